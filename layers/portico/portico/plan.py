"""Plan one pass: desired vs observed → a Plan, a value. Pure: each kind plans its own steps.

Services are planned one at a time (those that hold reservations first, then new ones in the order
given: stream order, so the first writer of a path wins), each seeing the tentative reservations and ECS
attachments of the ones before it; then offboarded services; then the kinds that fold the services' steps
(one route import for many resources) and the kinds that plan the whole pass.
"""

from __future__ import annotations

import copy
import dataclasses

from .desired import DesiredService, desire
from .kinds import FOLD_KINDS, PASS_KINDS, SERVICE_KINDS, fit_quota
from .observed import Observed
from .settings import Settings
from .slots import Waiting
from .spec import ServiceSpec, SpecError
from .steps import Plan, Step


def make_plan(specs: dict[str, ServiceSpec], observed: Observed, settings: Settings, region: str,
              scope: set[str] | None, present: set[str]) -> Plan:
    """The whole plan for one pass. `scope`: services to look at (None = all); `present`: services that
    have a registry entry (a ledgered service in scope without one is offboarded)."""
    obs = copy.copy(observed)
    obs.state = copy.deepcopy(observed.state)  # this pass's tentative reservations go here
    obs.ecs = dict(observed.ecs)
    _hand_over(specs, obs, scope, present)
    plan = Plan()
    for service in sorted(specs, key=lambda s: s not in observed.state.ledgers):
        try:
            d = desire(specs[service], obs, settings, region)
        except Waiting:  # every load balancer is full and the pool grows: kinds/load_balancer.py plans the wait
            plan.steps.append(Step("await_load_balancer", service))
            continue
        except SpecError as exc:
            plan.failed[service] = str(exc)
            continue
        plan.desired[service] = d
        steps = [step for kind in SERVICE_KINDS for step in kind.plan(d, obs)]
        plan.steps += steps
        _hold(obs, d, steps)
    candidates = set(obs.state.ledgers) if scope is None else scope & set(obs.state.ledgers)
    for service in sorted(candidates - present):
        plan.removed.append(service)
        plan.steps += [step for kind in SERVICE_KINDS for step in kind.plan_removal(service, obs)]
    fit_quota(plan, obs, settings)  # the services the API's resources quota leaves no room for are FAILED
    for folding in FOLD_KINDS:
        plan.steps = folding.fold(plan.steps, plan.desired)
    for kind in PASS_KINDS:
        plan.steps += kind.plan_pass(plan, obs, settings, region)
    return plan.sort()


def _hand_over(specs: dict[str, ServiceSpec], obs: Observed, scope: set[str] | None, present: set[str]) -> None:
    """A batch is settled as a whole: a path its owner leaves in this pass (moving to another path, or
    offboarded) goes to the service of the pass that wants it, so swaps, rotations and moves onto a freed path
    converge in one pass. The taker's reservation takes the path from the leaver (held by this same pass) and
    the route's API resources with it; the leaver neither releases nor deletes them."""
    leaving = {}
    for service, ledger in obs.state.ledgers.items():
        if not ledger.path or obs.state.paths.get(ledger.path) != service:
            continue
        if service in specs and specs[service].path != ledger.path:
            leaving[ledger.path] = (service, specs[service].path)
        elif service not in present and (scope is None or service in scope):
            leaving[ledger.path] = (service, None)
    for service in sorted(specs, key=lambda s: s not in obs.state.ledgers):  # the planning order: first wins
        path = specs[service].path
        if path in leaving and leaving[path][0] != service and path not in obs.state.handed:
            obs.state.handed[path] = leaving[path]
            obs.state.paths[path] = service


def _hold(obs: Observed, d: DesiredService, steps: list[Step]) -> None:
    """Record what the service takes in this pass, so the services planned after it count it."""
    if d.priority is not None:
        obs.state.priorities[(d.listener_arn, d.priority)] = d.service
    else:
        obs.state.ports[(d.load_balancer, d.port)] = d.service
    obs.state.paths[d.spec.path] = d.service
    if any(st.action == "attach_ecs" for st in steps):
        svc = obs.ecs[d.ecs_key]
        obs.ecs[d.ecs_key] = dataclasses.replace(svc, load_balancers=[*svc.load_balancers, {
            "targetGroupArn": f"planned:{d.target_group_name}", "containerName": d.container_name,
            "containerPort": d.spec.container_port}])
