"""The rooms of the pipeline: every action in ORDER is applied by exactly one kind's function."""

from __future__ import annotations

from botocore.exceptions import ClientError

from portico import apply, plan
from portico.errors import error_code, is_not_found
from portico.steps import API_ACTIONS, ORDER


def test_every_action_has_one_apply_function_and_one_place_in_order():
    actions = [action for kind in apply.KINDS for action in kind.APPLY]
    assert sorted(actions) == sorted(ORDER) and len(set(ORDER)) == len(ORDER)
    assert set(ORDER) >= API_ACTIONS


def test_the_planner_lists_every_kind_that_plans():
    assert set(plan.SERVICE_KINDS) | set(plan.PASS_KINDS) == set(apply.KINDS)


def test_error_codes_are_read_from_an_exception_or_a_raw_response():
    exc = ClientError({"Error": {"Code": "ListenerNotFound", "Message": "gone"}}, "DeleteListener")
    assert error_code(exc) == "ListenerNotFound" and is_not_found(exc)
    assert error_code({"Error": {"Code": "TooManyListeners"}}) == "TooManyListeners"
    assert error_code(ValueError("x")) == "" and not is_not_found(ValueError("x"))
    assert not is_not_found(ClientError({"Error": {"Code": "ResourceInUse"}}, "DeleteTargetGroup"))
