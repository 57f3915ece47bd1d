"""The plan: the steps that turn observed into desired. A value: pure, printable, JSON, golden-tested.

Steps name objects by their stable identity (target group name, load balancer + port, API path), not by
ARNs that do not exist yet; `apply` resolves identities to ARNs and ids as it goes.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from .desired import PROXY, DesiredService, MethodSpec, desire
from .observed import Observed
from .settings import Settings
from .spec import ServiceSpec, SpecError

# One ordering table: creates and updates front to back, then deletes in reverse dependency order,
# then one deployment. A target group is deleted after the listener and ECS service that use it.
ORDER = (
    "reserve",
    "adopt_target_group", "create_target_group", "modify_target_group",
    "create_listener", "modify_listener",
    "create_resource", "put_method", "update_method", "put_integration", "delete_method",
    "attach_ecs", "put_alarms",
    "delete_resource", "detach_ecs", "delete_listener", "delete_target_group", "delete_alarms", "release",
    "deploy", "update_stage", "put_dashboard",
)
API_ACTIONS = {"create_resource", "put_method", "update_method", "put_integration", "delete_method",
               "delete_resource"}


@dataclass(frozen=True)
class Step:
    action: str
    service: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "service": self.service, **self.params}

    def __str__(self) -> str:
        detail = " ".join(f"{k}={v}" for k, v in self.params.items() if not isinstance(v, (dict, list)))
        return f"{self.action:<20} {self.service:<28} {detail}"


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    desired: dict[str, DesiredService] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # service -> why it cannot be served
    removed: list[str] = field(default_factory=list)  # services being offboarded

    def sort(self) -> Plan:
        self.steps.sort(key=lambda s: ORDER.index(s.action))  # stable: keeps per-service order
        return self

    def for_service(self, service: str) -> list[Step]:
        return [s for s in self.steps if s.service == service]

    def to_json(self) -> dict[str, Any]:
        return {"steps": [s.to_json() for s in self.steps],
                "failed": [{"service": k, "reason": v} for k, v in sorted(self.failed.items())]}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True)

    def __bool__(self) -> bool:
        return bool(self.steps)


def _integration_differs(m: MethodSpec, verb: str, integration: dict[str, Any]) -> bool:
    want = {"type": "HTTP_PROXY", "uri": m.uri, "connectionType": "VPC_LINK",
            "httpMethod": verb, "requestParameters": m.integration_request_parameters()}
    have = {"type": integration.get("type"), "uri": integration.get("uri"),
            "connectionType": integration.get("connectionType"), "httpMethod": integration.get("httpMethod"),
            "requestParameters": integration.get("requestParameters") or {}}
    if want != have:
        return True
    # Some API Gateway implementations omit connectionId on reads; compare it only when it is reported.
    return bool(integration.get("connectionId")) and integration["connectionId"] != m.connection_id


def plan_service(d: DesiredService, observed: Observed) -> list[Step]:
    s, steps = d.service, []
    ledger = observed.state.ledgers.get(s)
    reserved = observed.state.ports.get((d.load_balancer, d.port)) == s and observed.state.paths.get(d.spec.path) == s
    if not reserved or not ledger or ledger.path != d.spec.path:
        steps.append(Step("reserve", s, {"loadBalancer": d.load_balancer, "port": d.port, "path": d.spec.path,
                                         "ancestors": list(d.ancestors)}))

    # Target group.
    tg = observed.target_groups.get(d.target_group_name)
    hc_protocol, hc_path = d.health
    tg_params = {"name": d.target_group_name, "port": d.spec.container_port, "targetType": d.target_type,
                 "healthCheckProtocol": hc_protocol, "healthCheckPath": hc_path}
    if tg is None:
        steps.append(Step("create_target_group", s, tg_params))
    else:
        if not ledger or tg.arn not in ledger.target_groups.values():
            steps.append(Step("adopt_target_group", s, {"name": tg.name, "arn": tg.arn}))
        if tg.health_protocol != hc_protocol or (hc_path and tg.health_path != hc_path):
            steps.append(Step("modify_target_group", s, tg_params))

    # Listener on the reserved port, forwarding to the target group.
    lb = observed.load_balancers[d.load_balancer]
    listener = lb.listeners.get(d.port)
    if listener is None:
        steps.append(Step("create_listener", s, {"loadBalancer": d.load_balancer, "port": d.port,
                                                 "targetGroup": d.target_group_name}))
    elif tg is None or listener.target_group_arns != (tg.arn,):
        steps.append(Step("modify_listener", s, {"listenerArn": listener.arn, "port": d.port,
                                                 "targetGroup": d.target_group_name}))

    # API resources, methods and VPC_LINK integrations.
    for path in (*d.ancestors, *d.resources):
        if path not in observed.resources:
            steps.append(Step("create_resource", s, {"path": path, "intermediate": path in d.ancestors}))
    for path, methods in d.resources.items():
        have = observed.resources.get(path)
        have_methods = have.methods if have else {}
        for verb, m in methods.items():
            current = have_methods.get(verb)
            method_params = {"path": path, "httpMethod": verb, "authorizationType": m.authorization,
                             "apiKeyRequired": m.api_key_required, "authorizerId": m.authorizer_id}
            if current is None:
                steps.append(Step("put_method", s, method_params))
            elif (current.authorization, current.api_key_required, current.authorizer_id or None) != \
                    (m.authorization, m.api_key_required, m.authorizer_id):
                steps.append(Step("update_method", s, method_params))
            if current is None or _integration_differs(m, verb, current.integration):
                steps.append(Step("put_integration", s, {"path": path, "httpMethod": verb, "uri": m.uri,
                                                         "connectionId": m.connection_id, "proxy": m.proxy}))
        for verb in sorted(set(have_methods) - set(methods)):
            steps.append(Step("delete_method", s, {"path": path, "httpMethod": verb}))

    # ECS service: our target group in its loadBalancers, old portico target groups out.
    svc = observed.ecs[d.ecs_key]
    want = {"targetGroupArn": tg.arn if tg else None, "containerName": d.container_name,
            "containerPort": d.spec.container_port}
    old = sorted(set((ledger.target_groups if ledger else {}).values()) - ({tg.arn} if tg else set()))
    attached = any(lb_.get("targetGroupArn") == want["targetGroupArn"] and lb_.get("containerName") == d.container_name
                   and lb_.get("containerPort") == d.spec.container_port for lb_ in svc.load_balancers)
    stale = [lb_["targetGroupArn"] for lb_ in svc.load_balancers if lb_.get("targetGroupArn") in old]
    if tg is None or not attached or stale:
        steps.append(Step("attach_ecs", s, {"ecsService": d.ecs_key, "targetGroup": d.target_group_name,
                                            "containerName": d.container_name,
                                            "containerPort": d.spec.container_port, "detach": old}))
    if ledger and ledger.ecs and ledger.ecs != d.ecs_key:
        steps.append(Step("detach_ecs", s, {"ecsService": ledger.ecs,
                                            "targetGroups": sorted(ledger.target_groups.values())}))
    for name, arn in sorted(_ledger_target_groups(ledger, observed).items()):
        if name != d.target_group_name and arn:
            steps.append(Step("delete_target_group", s, {"name": name, "arn": arn}))
    if ledger:
        for path in _old_routes(s, d.spec.path, ledger, observed):
            steps += _delete_routes(s, path, observed)
    if ledger and ledger.port and (ledger.load_balancer, ledger.port) != (d.load_balancer, d.port):
        steps.append(Step("release", s, {"loadBalancer": ledger.load_balancer, "port": ledger.port,
                                         "path": None, "keepLedger": True}))
    # A path given up (moved, or a reserve that survived a crash of the pass that moved it) is freed.
    for path in sorted(p for p, owner in observed.state.paths.items() if owner == s and p != d.spec.path):
        steps.append(Step("release", s, {"loadBalancer": None, "port": None, "path": path, "keepLedger": True}))
    return steps


def _ledger_target_groups(ledger, observed: Observed) -> dict[str, str]:
    """The ledger's target groups by name, with ARNs from AWS where the ledger only holds the name (a target
    group recorded before its create call, which a crash may have cut short)."""
    if not ledger:
        return {}
    return {name: (observed.target_groups[name].arn if name in observed.target_groups else arn)
            for name, arn in ledger.target_groups.items()}


def _old_routes(service: str, path: str, ledger, observed: Observed) -> list[str]:
    """Routes the ledger says the service had at another path: its previous path, and any resource it
    created elsewhere (kept even when a crash cut a move short after the new path was reserved). Only
    resources whose id the ledger recorded, or a path nobody else owns, are touched."""
    old = {ledger.path} if ledger.path and ledger.path != path else set()
    for res_path, rid in ledger.resources.items():
        base = res_path.removesuffix("/" + PROXY)
        have = observed.resources.get(res_path)
        if base != path and have is not None and have.id == rid:
            old.add(base)
    return sorted(p for p in old if observed.state.paths.get(p) in (None, service))


def _delete_routes(service: str, path: str, observed: Observed) -> list[Step]:
    """Delete the route's resources, {proxy+} first. API Gateway cascades a delete to child resources, so
    when someone else has put a resource under the route, the route's resource stays and only its
    methods go: a resource portico did not create is never touched."""
    proxy, leaf = observed.resources.get(proxy_path(path)), observed.resources.get(path)
    steps = [Step("delete_resource", service, {"path": proxy.path, "resourceId": proxy.id})] if proxy else []
    if leaf is None:
        return steps
    foreign = [p for p in observed.resources if p.startswith(path + "/") and p != proxy_path(path)]
    if foreign:
        return steps + [Step("delete_method", service, {"path": path, "httpMethod": verb})
                        for verb in sorted(leaf.methods)]
    return steps + [Step("delete_resource", service, {"path": path, "resourceId": leaf.id})]


def plan_removal(service: str, observed: Observed) -> list[Step]:
    """Offboard: remove exactly what the ledger says portico created for `service`."""
    ledger = observed.state.ledgers[service]
    steps = []
    for path in sorted({ledger.path, *_old_routes(service, "", ledger, observed)} - {None}):
        steps += _delete_routes(service, path, observed)
    tgs = {name: arn for name, arn in _ledger_target_groups(ledger, observed).items() if arn}
    if ledger.ecs and tgs:
        steps.append(Step("detach_ecs", service, {"ecsService": ledger.ecs, "targetGroups": sorted(tgs.values())}))
    lb = observed.load_balancers.get(ledger.load_balancer or "")
    listener = lb.listeners.get(ledger.port) if lb and ledger.port else None
    if listener and (listener.arn == ledger.listener_arn or set(listener.target_group_arns) <= set(tgs.values())):
        steps.append(Step("delete_listener", service, {"listenerArn": listener.arn, "port": ledger.port}))
    for name, arn in sorted(tgs.items()):
        if name in observed.target_groups:
            steps.append(Step("delete_target_group", service, {"name": name, "arn": arn}))
    for path in sorted(p for p, owner in observed.state.paths.items() if owner == service and p != ledger.path):
        steps.append(Step("release", service, {"loadBalancer": None, "port": None, "path": path, "keepLedger": True}))
    steps.append(Step("release", service, {"loadBalancer": ledger.load_balancer, "port": ledger.port,
                                           "path": ledger.path, "keepLedger": False}))
    return steps


def plan_intermediates(observed: Observed, keep_paths: set[str], deleted: set[str]) -> list[Step]:
    """Delete intermediate resources portico created that no route needs and that hold nothing else."""
    steps = []
    for path in sorted(observed.state.intermediates, key=lambda p: -p.count("/")):
        if any(p == path or p.startswith(path + "/") for p in keep_paths):
            continue
        children = [p for p in observed.resources if p.startswith(path + "/")
                    and not any(p == d or p.startswith(d + "/") for d in deleted)]
        if not children:
            res = observed.resources.get(path)
            steps.append(Step("delete_resource", "*", {"path": path, "resourceId": res.id if res else None,
                                                       "intermediate": True}))
            deleted.add(path)
    return steps


def proxy_path(path: str) -> str:
    return f"{path}/{PROXY}"


def make_plan(specs: dict[str, ServiceSpec], observed: Observed, settings: Settings, region: str,
              scope: set[str] | None, present: set[str]) -> Plan:
    """The whole plan for one pass. `scope`: services to look at (None = all); `present`: services that
    have a registry entry (a ledgered service in scope without one is offboarded)."""
    obs = copy.copy(observed)
    obs.state = copy.deepcopy(observed.state)  # this pass's tentative reservations go here
    obs.ecs = dict(observed.ecs)
    plan = Plan()
    # Services that already hold reservations keep them: plan them first, then new ones in the order given
    # (stream order, so the first writer of a path wins).
    for service in sorted(specs, key=lambda s: s not in observed.state.ledgers):
        try:
            d = desire(specs[service], obs, settings, region)
        except SpecError as exc:
            plan.failed[service] = str(exc)
            continue
        plan.desired[service] = d
        steps = plan_service(d, obs)
        plan.steps += steps
        obs.state.ports[(d.load_balancer, d.port)] = service
        obs.state.paths[d.spec.path] = service
        if any(s.action == "attach_ecs" for s in steps):  # later services count this attachment too
            svc = obs.ecs[d.ecs_key]
            obs.ecs[d.ecs_key] = dataclasses.replace(svc, load_balancers=[*svc.load_balancers, {
                "targetGroupArn": f"planned:{d.target_group_name}", "containerName": d.container_name,
                "containerPort": d.spec.container_port}])
    candidates = set(obs.state.ledgers) if scope is None else scope & set(obs.state.ledgers)
    for service in sorted(candidates - present):
        plan.removed.append(service)
        plan.steps += plan_removal(service, obs)
    removed_paths = {obs.state.ledgers[s].path for s in plan.removed if obs.state.ledgers[s].path}
    given_up = {st.params["path"] for st in plan.steps if st.action == "release" and st.params.get("path")}
    removed_paths |= given_up  # a moved route frees its old parents in the same pass
    keep = {p for p, owner in obs.state.paths.items() if owner not in plan.removed and p not in given_up}
    plan.steps += plan_intermediates(obs, keep, removed_paths)
    pending = bool((obs.state.deploys.get(settings.stage) or {}).get("pending"))
    if pending or any(s.action in API_ACTIONS for s in plan.steps):
        changed = sorted({s.service for s in plan.steps if s.service != "*"})
        plan.steps.append(Step("deploy", "*", {
            "stage": settings.stage, "pending": pending,
            "description": ("portico: " + ", ".join(changed))[:1000] if changed else "portico: resume"}))
    from .product.pipeline import plan_product  # alarms, stage settings, dashboard (imports this module)

    plan.steps += plan_product(plan, obs, settings, region)
    return plan.sort()
