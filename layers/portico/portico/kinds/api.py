"""API Gateway resources: `{path}` and `{path}/{proxy+}` with their methods and VPC_LINK integrations, and
the intermediate resources above them (`/team` for `/team/orders`), which portico deletes once empty."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from ..context import ApplyContext
from ..desired import DesiredService, MethodSpec
from ..errors import error_code, is_not_found
from ..observed import Observed, read_resources
from ..settings import RESOURCES_PER_API, Settings
from ..spec import PROXY, proxy_path
from ..state import Conflict, ConflictKind, Ledger
from ..steps import Plan, Step

log = logging.getLogger("portico.apply")


def plan(d: DesiredService, obs: Observed) -> list[Step]:
    s, steps = d.service, []
    for path in (*d.ancestors, *d.resources):
        if path not in obs.resources:
            steps.append(Step("create_resource", s, {"path": path, "intermediate": path in d.ancestors}))
    for path, methods in d.resources.items():
        have = obs.resources.get(path)
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
            if current is None or integration_differs(m, verb, current.integration):
                steps.append(Step("put_integration", s, integration_params(path, verb, m)))
        for verb in sorted(set(have_methods) - set(methods)):
            steps.append(Step("delete_method", s, {"path": path, "httpMethod": verb}))
    ledger = obs.state.ledgers.get(s)
    if ledger:
        for path in _old_routes(s, d.spec.path, ledger, obs):
            steps += _delete_route(s, path, obs)
    return steps


def integration_params(path: str, verb: str, m: MethodSpec) -> dict[str, Any]:
    target = {"integrationTarget": m.integration_target} if m.integration_target else {}
    keys = {"cacheKeyParameters": m.cache_key_parameters()} if m.cache_key_parameters() else {}
    header = {"serviceHeader": m.service_header} if m.service_header else {}
    return {"path": path, "httpMethod": verb, "uri": m.uri, "connectionId": m.connection_id, "proxy": m.proxy,
            **target, **keys, **header}


def plan_removal(service: str, obs: Observed) -> list[Step]:
    """Offboard: remove exactly the routes the ledger says portico created for `service`."""
    ledger = obs.state.ledgers[service]
    return [st for path in sorted({ledger.path, *_old_routes(service, "", ledger, obs)} - {None})
            if obs.state.paths.get(path) in (None, service)  # not a path handed to a service of this pass
            for st in _delete_route(service, path, obs)]


def plan_pass(plan: Plan, obs: Observed, settings: Settings, region: str) -> list[Step]:
    """Delete intermediate resources portico created that no route needs and that hold nothing else."""
    # The routes this pass takes away, with their services: the offboarded's, and a moved route's old path.
    # A path handed to another service of this pass (plan._hand_over) is not gone: its parents stay.
    taken = {d.spec.path for d in plan.desired.values()}
    gone = {(obs.state.ledgers[s].path, s) for s in plan.removed
            if obs.state.ledgers[s].path and obs.state.ledgers[s].path not in taken}
    given_up = {st.params["path"]: st.service for st in plan.steps
                if st.action == "release" and st.params.get("path") and st.params["path"] not in taken}
    gone |= set(given_up.items())  # a moved route frees its old parents in the same pass
    deleted = {p for p, _ in gone}
    keep = {p for p, owner in obs.state.paths.items() if owner not in plan.removed and p not in given_up}
    steps = []
    for path in sorted(obs.state.intermediates, key=lambda p: -p.count("/")):
        if any(p == path or p.startswith(path + "/") for p in keep):
            continue
        children = [p for p in obs.resources if p.startswith(path + "/")
                    and not any(p == d or p.startswith(d + "/") for d in deleted)]
        if not children:
            res = obs.resources.get(path)
            steps.append(Step("delete_resource", "*", {
                "path": path, "resourceId": res.id if res else None, "intermediate": True,
                "leaving": sorted({s for p, s in gone if p.startswith(path + "/")})}))
            deleted.add(path)
    return steps


def fit_quota(plan: Plan, obs: Observed, settings: Settings) -> None:
    """API Gateway's "Resources per API" (300 by default, can be increased, per API; the root counts:
    https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html),
    counted before any call: the services whose new resources do not fit leave the plan, FAILED with the quota
    and the fix, so no call (and no import bisecting a refused batch) is how portico learns the limit. The
    room goes in planning order (routed services first, then new ones as their entries came), each counting
    what no service before it creates (a shared parent once); this pass's deletes free nothing here (they run
    after its creates)."""
    creates: dict[str, set[str]] = {}
    for st in plan.steps:
        if st.action == "create_resource":
            creates.setdefault(st.service, set()).add(st.params["path"])
    quota, taken = settings.resources_per_api, set(obs.resources)
    refused: dict[str, str] = {}
    for service in plan.desired:
        new = creates.get(service, set()) - taken
        if len(taken) + len(new) <= quota:
            taken |= new
        else:
            refused[service] = (
                f"API Gateway quota Resources per API ({quota}): the API has {len(taken)} resources with this "
                f"pass's, and {service} needs {len(new)} more. Raise the API's quota in Service Quotas (Amazon "
                f"API Gateway, Resources per API, adjustable per API), then set ResourcesPerApi "
                f"({RESOURCES_PER_API}) to it; or offboard services")
    if refused:
        plan.steps[:] = [st for st in plan.steps if st.service not in refused]
        for service, why in refused.items():
            del plan.desired[service]
            plan.failed[service] = why


def integration_differs(m: MethodSpec, verb: str, integration: dict[str, Any]) -> bool:
    """Whether a method's integration as API Gateway reports it is not the one `m` wants (the route import checks
    what it wrote with it too)."""
    want = {"type": "HTTP_PROXY", "uri": m.uri, "connectionType": "VPC_LINK",
            "httpMethod": verb, "requestParameters": m.integration_request_parameters()}
    have = {"type": integration.get("type"), "uri": integration.get("uri"),
            "connectionType": integration.get("connectionType"), "httpMethod": integration.get("httpMethod"),
            "requestParameters": integration.get("requestParameters") or {}}
    if want != have or (integration.get("integrationTarget") or None) != m.integration_target:
        return True
    if sorted(integration.get("cacheKeyParameters") or []) != m.cache_key_parameters():
        return True
    # Some API Gateway implementations omit connectionId on reads; compare it only when it is reported.
    return bool(integration.get("connectionId")) and integration["connectionId"] != m.connection_id


def _old_routes(service: str, path: str, ledger: Ledger, obs: Observed) -> list[str]:
    """Routes the ledger says the service had at another path: its previous path, and any resource it
    created elsewhere (kept even when a crash cut a move short after the new path was reserved). Only
    resources whose id the ledger recorded, or a path nobody else owns, are touched."""
    old = {ledger.path} if ledger.path and ledger.path != path else set()
    for res_path, rid in ledger.resources.items():
        base = res_path.removesuffix("/" + PROXY)
        have = obs.resources.get(res_path)
        if base != path and have is not None and have.id == rid:
            old.add(base)
    return sorted(p for p in old if obs.state.paths.get(p) in (None, service))


def _delete_route(service: str, path: str, obs: Observed) -> list[Step]:
    """Delete the route's resources, {proxy+} first. API Gateway cascades a delete to child resources, so
    when someone else has put a resource under the route, the route's resource stays and only its
    methods go: a resource portico did not create is never touched."""
    proxy, leaf = obs.resources.get(proxy_path(path)), obs.resources.get(path)
    steps = [Step("delete_resource", service, {"path": proxy.path, "resourceId": proxy.id})] if proxy else []
    if leaf is None:
        return steps
    foreign = [p for p in obs.resources if p.startswith(path + "/") and p != proxy_path(path)]
    if foreign:
        return steps + [Step("delete_method", service, {"path": path, "httpMethod": verb})
                        for verb in sorted(leaf.methods)]
    return steps + [Step("delete_resource", service, {"path": path, "resourceId": leaf.id})]


# -- apply ---------------------------------------------------------------------------------------------
def _method(ctx: ApplyContext, p: dict[str, Any]) -> dict[str, Any]:
    return {"restApiId": ctx.settings.rest_api_id, "resourceId": ctx.resource_ids[p["path"]],
            "httpMethod": p["httpMethod"]}


def _tolerate_not_found(call, **kwargs) -> None:
    try:
        call(**kwargs)
    except ClientError as exc:
        if not is_not_found(exc):
            raise


def create_resource(step: Step, ctx: ApplyContext) -> None:
    path = step.params["path"]
    if path in ctx.resource_ids and step.params.get("intermediate"):
        return  # a parent another service of this pass created already
    parent, _, part = path.rpartition("/")
    if step.params.get("intermediate"):  # write-ahead: a crash after the create leaves a findable marker
        ctx.state.put_intermediate(path, "")
    try:
        rid = _api_call(ctx.clients.apigateway.create_resource, restApiId=ctx.settings.rest_api_id,
                        parentId=ctx.resource_ids[parent or "/"], pathPart=part)["id"]
    except ClientError as exc:
        # Another reconcile created the parent first (API Gateway's 409): use it, its marker says it is portico's.
        if not (error_code(exc) == "ConflictException" and step.params.get("intermediate")):
            raise
        rid = read_resources(ctx.clients.apigateway, ctx.settings.rest_api_id)[path].id
    ctx.resource_ids[path] = rid
    if step.params.get("intermediate"):
        ctx.state.put_intermediate(path, rid)
    else:
        ctx.ledger(step.service).resources[path] = rid


def _api_call(call, **kwargs):
    """A call on resources this pass observed: one gone meanwhile (a concurrent offboard deleted it, or the
    parent it hung under) is a lost race, re-planned on fresh reads, not the user's to fix."""
    try:
        return call(**kwargs)
    except ClientError as exc:
        if is_not_found(exc):
            raise Conflict(ConflictKind.STALE, f"API resource {kwargs.get('resourceId') or kwargs.get('parentId')}",
                           "another reconcile") from None
        raise


def put_method(step: Step, ctx: ApplyContext) -> None:
    p = step.params
    args = {**_method(ctx, p), "authorizationType": p["authorizationType"], "apiKeyRequired": p["apiKeyRequired"]}
    if p.get("authorizerId"):
        args["authorizerId"] = p["authorizerId"]
    if p["path"].endswith("/" + PROXY):
        args["requestParameters"] = {"method.request.path.proxy": True}
    _api_call(ctx.clients.apigateway.put_method, **args)


def update_method(step: Step, ctx: ApplyContext) -> None:
    p = step.params
    ops = [{"op": "replace", "path": "/authorizationType", "value": p["authorizationType"]},
           {"op": "replace", "path": "/apiKeyRequired", "value": str(p["apiKeyRequired"]).lower()},
           {"op": "replace", "path": "/authorizerId", "value": p.get("authorizerId") or ""}]
    _api_call(ctx.clients.apigateway.update_method, **_method(ctx, p), patchOperations=ops)


def put_integration(step: Step, ctx: ApplyContext) -> None:
    p = step.params
    args = {**_method(ctx, p), "type": "HTTP_PROXY", "integrationHttpMethod": p["httpMethod"], "uri": p["uri"],
            "connectionType": "VPC_LINK", "connectionId": p["connectionId"], "timeoutInMillis": 29000}
    if p.get("integrationTarget"):
        args["integrationTarget"] = p["integrationTarget"]
    parameters = MethodSpec("", False, None, "", "", bool(p.get("proxy")), p.get("integrationTarget"),
                            service_header=p.get("serviceHeader")).integration_request_parameters()
    if parameters:
        args["requestParameters"] = parameters
    if p.get("cacheKeyParameters"):
        args["cacheKeyParameters"] = p["cacheKeyParameters"]
    _api_call(ctx.clients.apigateway.put_integration, **args)


def delete_method(step: Step, ctx: ApplyContext) -> None:
    _tolerate_not_found(ctx.clients.apigateway.delete_method, **_method(ctx, step.params))


def delete_resource(step: Step, ctx: ApplyContext) -> None:
    p = step.params
    if p.get("intermediate") and not ctx.state.retire(p["path"], p.get("leaving") or []):
        log.info(f"kept intermediate API resource {p['path']}: a service reserved a path below it since this "
                 "pass read the state, or another pass deleted it")
        return
    try:
        if p.get("resourceId"):  # deleting a resource deletes its children ({proxy+}) and their methods
            _tolerate_not_found(ctx.clients.apigateway.delete_resource, restApiId=ctx.settings.rest_api_id,
                                resourceId=p["resourceId"])
    except Exception:
        if p.get("intermediate"):
            ctx.state.unretire(p["path"])
        raise
    if p.get("intermediate"):
        ctx.state.delete_intermediate(p["path"])
    elif step.service != "*":
        ledger = ctx.ledger(step.service)
        ledger.resources = {k: v for k, v in ledger.resources.items()
                            if k != p["path"] and not k.startswith(p["path"] + "/")}


APPLY = {"create_resource": create_resource, "put_method": put_method, "update_method": update_method,
         "put_integration": put_integration, "delete_method": delete_method, "delete_resource": delete_resource}
