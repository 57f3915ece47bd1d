"""Reservations: the service's listener port (ALB mode: its listener rule's priority) and API path in portico's
state table, and its ledger."""

from __future__ import annotations

import uuid

from ..context import ApplyContext
from ..desired import DesiredService, ancestors_of
from ..observed import Observed
from ..spec import route_paths
from ..state import Handover, Reservation
from ..steps import Step

TRANSACTION_SERVICES = 25  # top-level paths' reservations per TransactWriteItems: 4 items each, its 100 actions


def plan(d: DesiredService, obs: Observed) -> list[Step]:
    if d.priority is not None:
        return _plan_priority(d, obs)
    s, steps = d.service, []
    ledger = obs.state.ledgers.get(s)
    reserved = obs.state.ports.get((d.load_balancer, d.port)) == s and obs.state.paths.get(d.spec.path) == s
    if not reserved or not ledger or ledger.path != d.spec.path:
        steps.append(Step("reserve", s, {"loadBalancer": d.load_balancer, "port": d.port, "path": d.spec.path,
                                         "ancestors": list(d.ancestors), "targetGroup": d.target_group_name,
                                         "ecsService": d.ecs_key, **_handed(d, obs)}))
    if ledger and ledger.port and (ledger.load_balancer, ledger.port) != (d.load_balancer, d.port):
        steps.append(_release_old(s, ledger.load_balancer, ledger.port, None))
    # A path given up (moved, or a reserve that survived a crash of the pass that moved it) is freed.
    steps += [_release_old(s, None, None, path) for path in _other_paths(s, d.spec.path, obs)]
    return steps


def _plan_priority(d: DesiredService, obs: Observed) -> list[Step]:
    """ALB mode: the rule priority on the ALB listener instead of a port, reserved the same way."""
    s, steps = d.service, []
    ledger = obs.state.ledgers.get(s)
    reserved = obs.state.priorities.get((d.listener_arn, d.priority)) == s and obs.state.paths.get(d.spec.path) == s
    if not reserved or not ledger or ledger.path != d.spec.path:
        steps.append(Step("reserve", s, {"loadBalancer": d.load_balancer, "listener": d.listener_arn,
                                         "priority": d.priority, "path": d.spec.path, "ancestors": list(d.ancestors),
                                         "targetGroup": d.target_group_name, "ecsService": d.ecs_key,
                                         **_handed(d, obs)}))
    steps += [Step("release", s, {"listener": li, "priority": p, "path": None, "keepLedger": True})
              for li, p in _priorities(s, obs) if (li, p) != (d.listener_arn, d.priority)]  # a priority given up
    steps += [_release_old(s, None, None, path) for path in _other_paths(s, d.spec.path, obs)]
    return steps


def _handed(d: DesiredService, obs: Observed) -> dict:
    """A path its owner leaves in this pass (plan._hand_over): taken from it (`from`), which also leaves the
    `sub#` items of the ancestors it no longer routes below (`fromDrop`)."""
    giver, its_path = obs.state.handed.get(d.spec.path, (None, None))
    if giver is None or giver == d.service:
        return {}
    keep = set(ancestors_of(its_path)) if its_path else set()
    return {"from": giver, "fromDrop": [a for a in d.ancestors if a not in keep]}


def _priorities(service: str, obs: Observed) -> list[tuple[str, int]]:
    return sorted(k for k, owner in obs.state.priorities.items() if owner == service)


def plan_removal(service: str, obs: Observed) -> list[Step]:
    ledger = obs.state.ledgers[service]
    rules = [Step("release", service, {"listener": li, "priority": p, "path": None, "keepLedger": True})
             for li, p in _priorities(service, obs)]
    return [*(_release_old(service, None, None, path) for path in _other_paths(service, ledger.path, obs)), *rules,
            Step("release", service, {"loadBalancer": ledger.load_balancer, "port": ledger.port,
                                      "path": ledger.path, "keepLedger": False})]


def _other_paths(service: str, path: str | None, obs: Observed) -> list[str]:
    return sorted(p for p, owner in obs.state.paths.items() if owner == service and p != path)


def _release_old(service: str, lb: str | None, port: int | None, path: str | None) -> Step:
    return Step("release", service, {"loadBalancer": lb, "port": port, "path": path, "keepLedger": True})


def _intent(step: Step, ctx: ApplyContext) -> Reservation:
    """The step's reservation, with the ledger's intent: the target group name (ARN to follow) and the ECS
    service the pass is about to use, recorded in the same transaction instead of write-ahead saves."""
    p, ledger = step.params, ctx.ledger(step.service)
    tgs = {**ledger.target_groups}
    if p.get("targetGroup"):
        tgs.setdefault(p["targetGroup"], "")
    handover = Handover(p["from"], ctx.holder, tuple(p.get("fromDrop") or ())) if p.get("from") else None
    # the ledger's nonce too: the token of every object the pass creates for the service derives from it
    return Reservation(step.service, p["loadBalancer"], p["priority"] if p.get("listener") else p["port"], p["path"],
                       tuple(p["ancestors"]), p.get("listener"), tgs, p.get("ecsService") or ledger.ecs,
                       ledger.nonce or uuid.uuid4().hex, handover)


def _reserved(ctx: ApplyContext, r: Reservation) -> None:
    ledger = ctx.ledger(r.service)
    ledger.load_balancer, ledger.path = r.load_balancer, r.path
    if r.listener:
        ledger.priority = r.slot
    else:
        ledger.port = r.slot
    ledger.target_groups, ledger.ecs, ledger.nonce = r.target_groups, r.ecs, r.nonce
    if r.handover:  # the route's API resources come with the path
        giver = ctx.ledger(r.handover.giver)
        for path in route_paths(r.path):
            if path in giver.resources:
                ledger.resources[path] = giver.resources.pop(path)


def reserve(step: Step, ctx: ApplyContext) -> None:
    r = _intent(step, ctx)
    ctx.state.reserve(r)
    _reserved(ctx, r)


def reserve_many(steps: list[Step], ctx: ApplyContext) -> list[Step]:
    """Top-level paths' reservations, 25 services per transaction (4 items each, disjoint keys); the steps it
    leaves (nested paths share ancestor items; a cancelled transaction) go one by one."""
    # a path handed over goes alone too: its transaction checks the giver's ledger, which the giver's own
    # reservation writes ("no two actions can target the same item. For example, you cannot both ConditionCheck
    # and Update the same item": https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html)
    alone = [st for st in steps if st.params["ancestors"] or st.params.get("from")]
    batch = [st for st in steps if not (st.params["ancestors"] or st.params.get("from"))]
    for i in range(0, len(batch) if len(batch) > 1 else 0, TRANSACTION_SERVICES):
        chunk = [_intent(st, ctx) for st in batch[i:i + TRANSACTION_SERVICES]]
        if ctx.state.reserve_many(chunk):
            for r in chunk:
                _reserved(ctx, r)
        else:
            alone += batch[i:i + TRANSACTION_SERVICES]
    return alone if len(batch) > 1 else steps


def release(step: Step, ctx: ApplyContext) -> None:
    p = step.params
    if p.get("keepLedger"):  # the service moved to another port or path: free the old one only
        if p.get("listener") and p.get("priority"):
            ctx.state.release_priority(step.service, p["listener"], p["priority"])
        if p.get("loadBalancer") and p.get("port"):
            ctx.state.release_port(step.service, p["loadBalancer"], p["port"])
        if p.get("path"):
            ctx.state.release_path(step.service, p["path"])
        return
    ctx.state.release(step.service, p["loadBalancer"], p["port"], p["path"])
    ctx.ledgers[step.service] = None  # offboarded: nothing left to save


APPLY = {"reserve": reserve, "release": release}
BATCH = {"reserve": reserve_many}  # a run of these steps at once; what it returns goes one by one
# a run splits into chunks of one transaction each, side by side: their keys are disjoint (a chunk's nested or
# handed-over paths come back from reserve_many and go one by one after every chunk), so none waits on another
CHUNKS = {"reserve": TRANSACTION_SERVICES}
