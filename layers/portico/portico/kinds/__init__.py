"""One module per kind of object the pipeline owns, and the one list of them (KINDS).

Every kind applies the actions it plans (`Kind`); a per-service kind plans what one desired service needs and
what offboarding one takes (`ServiceKind`); a pass kind plans over the whole pass (`PassKind`); a folding kind
replaces some of the pass's steps with fewer (`FoldKind`); a kind may also apply a run of one action at once
(`BatchKind`). Which of these a kind is follows from the functions it defines, and
tests/unit/test_kinds.py checks every kind against these protocols. A new kind is one module and one line in KINDS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from ..context import ApplyContext
from ..desired import DesiredService
from ..observed import Observed
from ..settings import Settings
from ..steps import Plan, Step
from . import (
    alarms,
    api,
    dashboard,
    deployment,
    ecs,
    listener,
    listener_rule,
    load_balancer,
    reservation,
    routes_import,
    stage,
    target_group,
)


@runtime_checkable
class Kind(Protocol):
    APPLY: Mapping[str, Callable[[Step, ApplyContext], Any]]  # one function per action the kind plans


@runtime_checkable
class BatchKind(Protocol):
    # a run of one action done at once (one transaction for many reservations); returns the steps it left,
    # which are applied one by one
    BATCH: Mapping[str, Callable[[list[Step], ApplyContext], list[Step]]]


@runtime_checkable
class ServiceKind(Protocol):
    def plan(self, d: DesiredService, obs: Observed) -> list[Step]:
        """The steps that make one desired service true."""

    def plan_removal(self, service: str, obs: Observed) -> list[Step]:
        """The steps that offboard a service it holds objects of."""


@runtime_checkable
class PassKind(Protocol):
    def plan_pass(self, plan: Plan, obs: Observed, settings: Settings, region: str) -> list[Step]:
        """The steps of the whole pass, after every service's."""


@runtime_checkable
class FoldKind(Protocol):
    def fold(self, steps: list[Step], desired: Mapping[str, DesiredService]) -> list[Step]:
        """The services' steps with some replaced by fewer (one route import for many resources' calls), before
        the pass kinds plan."""


# In planning order: each service's steps come kind by kind in this order (listener in NLB mode, listener_rule in
# ALB mode), and so do the pass kinds'.
KINDS = (reservation, target_group, listener, listener_rule, routes_import, load_balancer, api, ecs, deployment, alarms,
         stage, dashboard)
SERVICE_KINDS: tuple[ServiceKind, ...] = tuple(k for k in KINDS if isinstance(k, ServiceKind))
FOLD_KINDS: tuple[FoldKind, ...] = tuple(k for k in KINDS if isinstance(k, FoldKind))
PASS_KINDS: tuple[PassKind, ...] = tuple(k for k in KINDS if isinstance(k, PassKind))
APPLY = {action: function for kind in KINDS for action, function in kind.APPLY.items()}  # action -> f(step, ctx)
BATCH = {action: function for kind in KINDS if isinstance(kind, BatchKind) for action, function in kind.BATCH.items()}
# Batch actions whose runs split into independent chunks (applied side by side), and the chunk's size.
CHUNKS: dict[str, int] = {action: size for kind in KINDS for action, size in getattr(kind, "CHUNKS", {}).items()}
# Between the services' steps and the pass kinds': the services the API's resources quota leaves no room for are FAILED.
fit_quota = api.fit_quota
