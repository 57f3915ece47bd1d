"""The product steps of a reconcile pass, planned from the same desired and observed state. Pure.

  put_alarms / delete_alarms   per service, created with the route and deleted when it is offboarded
  update_stage                 one UpdateStage per pass: all method-settings and cache patch operations
  put_dashboard                the services dashboard, one row per routed service
"""

from __future__ import annotations

from typing import Any

from ..observed import Observed
from ..plan import Plan, Step
from ..settings import Settings
from . import stagesettings as ss
from .alarms import Route, alarm_names, alarm_requests, alarms_differ, dashboard_body, watched_stage
from .observed import dashboard_name


def routes(plan: Plan, obs: Observed) -> list[Route]:
    """Every service that is routed after this pass: desired ones as planned, the rest as the ledger says."""
    out = {s: Route(s, d.spec.path, d.spec.methods, d.target_group_name, d.load_balancer)
           for s, d in plan.desired.items()}
    for s, ledger in obs.state.ledgers.items():
        if s in out or s in plan.removed or not ledger.path:
            continue
        res = obs.resources.get(ledger.path)
        methods = tuple(sorted(res.methods)) if res and res.methods else ("ANY",)
        tg = next(iter(sorted(ledger.target_groups)), None)
        out[s] = Route(s, ledger.path, methods, tg, ledger.load_balancer)
    return [out[s] for s in sorted(out)]


def route_json(route: Route) -> dict[str, Any]:
    return {"service": route.service, "path": route.path, "methods": list(route.methods),
            "targetGroup": route.target_group, "loadBalancer": route.load_balancer}


def route_from_json(d: dict[str, Any]) -> Route:
    return Route(d["service"], d["path"], tuple(d["methods"]), d.get("targetGroup"), d.get("loadBalancer"))


def plan_product(plan: Plan, obs: Observed, settings: Settings, region: str) -> list[Step]:
    product = getattr(obs, "product", None)
    if product is None:  # not read (a pure planner test without AWS): no product steps
        return []
    tg_arns = {name: tg.arn for name, tg in obs.target_groups.items()}
    steps: list[Step] = []

    # Alarms: with the service, and gone with it.
    for service, d in sorted(plan.desired.items()):
        route = Route(service, d.spec.path, d.spec.methods, d.target_group_name, d.load_balancer)
        names = alarm_names(settings.stack, service)
        requests = alarm_requests(route, stack=settings.stack, api_name=product.api_name, stage=watched_stage(settings),
                                  topic=settings.alarm_topic_arn, target_group_arn=tg_arns.get(d.target_group_name))
        ledger = obs.state.ledgers.get(service)
        if set(names) - set(product.alarms) or alarms_differ(requests, product.alarms) or \
                not ledger or sorted(ledger.alarms) != sorted(names):
            steps.append(Step("put_alarms", service, {"alarms": len(names), "route": route_json(route),
                                                      "names": names}))
    for service in plan.removed:
        ledger = obs.state.ledgers[service]
        names = sorted(set(ledger.alarms) | {n for n in alarm_names(settings.stack, service) if n in product.alarms})
        if names:
            steps.append(Step("delete_alarms", service, {"names": names}))

    everything = routes(plan, obs)
    # Stage method settings and the cache cluster.
    if product.stage is not None:
        current = product.stage.method_settings
        defaults = ss.stage_defaults(current)
        wanted: dict[str, dict[str, Any]] = {}
        owners: dict[str, str] = {}
        remove: set[str] = set()
        for service, d in sorted(plan.desired.items()):
            spec = d.spec
            mine = ss.service_settings(list(d.resources), spec.methods, spec.throttle_rate, spec.throttle_burst,
                                       spec.cache_ttl_seconds, defaults)
            wanted.update(mine)
            owners.update(dict.fromkeys(mine, service))
            ledger = obs.state.ledgers.get(service)
            owned = set(d.resources) | ({ledger.path, f"{ledger.path}/{{proxy+}}"} if ledger and ledger.path else set())
            remove |= {k for k in current if ss.key_path(k) in owned and k not in mine}
        for service in plan.removed:
            ledger = obs.state.ledgers[service]
            if ledger.path:
                owned = {ledger.path, f"{ledger.path}/{{proxy+}}"}
                remove |= {k for k in current if ss.key_path(k) in owned}
        keep_paths = {p for r in everything if r.service not in plan.desired
                      for p in (r.path, f"{r.path}/{{proxy+}}")}
        keep = {k for k in current if ss.key_path(k) in keep_paths}
        want_cache = any(f.get("caching/enabled") for f in wanted.values()) or \
            any((current.get(k) or {}).get("cachingEnabled") for k in keep)
        ops = ss.patch_operations(current, product.stage.cache_cluster_enabled, wanted, remove, want_cache)
        if ops:
            steps.append(Step("update_stage", "*", {"stage": settings.stage, "operations": len(ops), "patch": ops,
                                                    "owners": owners}))

    # The dashboard.
    body = dashboard_body(everything, api_name=product.api_name, stage=watched_stage(settings), region=region,
                          target_group_arns=tg_arns)
    if body != product.dashboard and (everything or product.dashboard is not None):  # none before the first route
        steps.append(Step("put_dashboard", "*", {"name": dashboard_name(settings.stack), "rows": len(everything),
                                                 "routes": [route_json(r) for r in everything]}))
    return steps
