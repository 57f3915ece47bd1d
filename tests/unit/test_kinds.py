"""The kinds of the pipeline: each conforms to the kind protocols, and every action in ORDER is applied by exactly
one kind's function."""

from __future__ import annotations

import inspect
import pkgutil

import pytest
from botocore.exceptions import ClientError

from portico import kinds
from portico.errors import error_code, is_not_found
from portico.steps import API_ACTIONS, ORDER

PLANNING = (kinds.ServiceKind, kinds.PassKind, kinds.FoldKind)  # a kind plans per service, per pass, or both


def _signature(function) -> list[tuple[str, object]]:
    sig = inspect.signature(function)
    return [(p.name, p.annotation) for p in sig.parameters.values() if p.name != "self"] + [
        ("return", sig.return_annotation)]


def test_every_kind_module_is_listed_once():
    modules = {m.name for m in pkgutil.iter_modules(kinds.__path__)}
    listed = [k.__name__.rpartition(".")[2] for k in kinds.KINDS]
    assert sorted(listed) == sorted(modules) and len(set(listed)) == len(listed)


@pytest.mark.parametrize("kind", kinds.KINDS, ids=lambda k: k.__name__.rpartition(".")[2])
def test_every_kind_conforms_to_the_kind_protocols(kind):
    assert isinstance(kind, kinds.Kind) and kind.APPLY
    assert any(isinstance(kind, protocol) for protocol in PLANNING), "a kind plans per service, per pass, or both"
    for protocol in (*PLANNING, kinds.BatchKind):
        methods = [m for m, v in vars(protocol).items() if inspect.isfunction(v) and not m.startswith("_")]
        if any(hasattr(kind, m) for m in (*methods, *protocol.__annotations__)):
            assert isinstance(kind, protocol), f"{kind.__name__} defines part of {protocol.__name__}"
            for m in methods:
                assert _signature(getattr(kind, m)) == _signature(getattr(protocol, m)), f"{kind.__name__}.{m}"
    for function in (*kind.APPLY.values(), *getattr(kind, "BATCH", {}).values()):
        inspect.signature(function).bind(None, None)  # called as f(step, ctx) or f(steps, ctx)
    assert set(getattr(kind, "BATCH", {})) <= set(kind.APPLY), "what a batch leaves is applied one by one"


def test_a_part_of_a_protocol_is_not_a_kind():
    class PlansWithoutRemoval:
        def plan(self, d, obs):
            return []

    kind = PlansWithoutRemoval()
    assert not isinstance(kind, kinds.ServiceKind) and not isinstance(kind, kinds.Kind)


def test_every_action_has_one_apply_function_and_one_place_in_order():
    actions = [action for kind in kinds.KINDS for action in kind.APPLY]
    assert sorted(actions) == sorted(ORDER) and len(set(ORDER)) == len(ORDER)
    assert set(ORDER) >= API_ACTIONS and set(kinds.APPLY) == set(ORDER)


def test_the_planners_come_from_the_one_list_in_planning_order():
    assert set(kinds.SERVICE_KINDS) | set(kinds.FOLD_KINDS) | set(kinds.PASS_KINDS) == set(kinds.KINDS)
    for planners in (kinds.SERVICE_KINDS, kinds.FOLD_KINDS, kinds.PASS_KINDS):
        assert list(planners) == sorted(planners, key=kinds.KINDS.index)


def test_error_codes_are_read_from_an_exception_or_a_raw_response():
    exc = ClientError({"Error": {"Code": "ListenerNotFound", "Message": "gone"}}, "DeleteListener")
    assert error_code(exc) == "ListenerNotFound" and is_not_found(exc)
    assert error_code({"Error": {"Code": "TooManyListeners"}}) == "TooManyListeners"
    assert error_code(ValueError("x")) == "" and not is_not_found(ValueError("x"))
    assert not is_not_found(ClientError({"Error": {"Code": "ResourceInUse"}}, "DeleteTargetGroup"))
