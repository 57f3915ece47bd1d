"""Reservations: the service's listener port and API path in portico's state table, and its ledger."""

from __future__ import annotations

from ..desired import DesiredService
from ..observed import Observed
from ..steps import ApplyContext, Step


def plan(d: DesiredService, obs: Observed) -> list[Step]:
    s, steps = d.service, []
    ledger = obs.state.ledgers.get(s)
    reserved = obs.state.ports.get((d.load_balancer, d.port)) == s and obs.state.paths.get(d.spec.path) == s
    if not reserved or not ledger or ledger.path != d.spec.path:
        steps.append(Step("reserve", s, {"loadBalancer": d.load_balancer, "port": d.port, "path": d.spec.path,
                                         "ancestors": list(d.ancestors)}))
    if ledger and ledger.port and (ledger.load_balancer, ledger.port) != (d.load_balancer, d.port):
        steps.append(_release_old(s, ledger.load_balancer, ledger.port, None))
    # A path given up (moved, or a reserve that survived a crash of the pass that moved it) is freed.
    steps += [_release_old(s, None, None, path) for path in _other_paths(s, d.spec.path, obs)]
    return steps


def plan_removal(service: str, obs: Observed) -> list[Step]:
    ledger = obs.state.ledgers[service]
    return [*(_release_old(service, None, None, path) for path in _other_paths(service, ledger.path, obs)),
            Step("release", service, {"loadBalancer": ledger.load_balancer, "port": ledger.port,
                                      "path": ledger.path, "keepLedger": False})]


def _other_paths(service: str, path: str | None, obs: Observed) -> list[str]:
    return sorted(p for p, owner in obs.state.paths.items() if owner == service and p != path)


def _release_old(service: str, lb: str | None, port: int | None, path: str | None) -> Step:
    return Step("release", service, {"loadBalancer": lb, "port": port, "path": path, "keepLedger": True})


def reserve(step: Step, ctx: ApplyContext) -> None:
    p = step.params
    ctx.state.reserve(step.service, p["loadBalancer"], p["port"], p["path"], p["ancestors"])
    ledger = ctx.ledger(step.service)
    ledger.load_balancer, ledger.port, ledger.path = p["loadBalancer"], p["port"], p["path"]


def release(step: Step, ctx: ApplyContext) -> None:
    p = step.params
    if p.get("keepLedger"):  # the service moved to another port or path: free the old one only
        if p.get("loadBalancer") and p.get("port"):
            ctx.state.release_port(step.service, p["loadBalancer"], p["port"])
        if p.get("path"):
            ctx.state.release_path(step.service, p["path"])
        return
    ctx.state.release(step.service, p["loadBalancer"], p["port"], p["path"])
    ctx.ledgers[step.service] = None  # offboarded: nothing left to save


APPLY = {"reserve": reserve, "release": release}
