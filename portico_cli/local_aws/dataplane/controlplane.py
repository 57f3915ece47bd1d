"""What the data plane reads from the control plane (the emulator), with real boto3 calls, into plain values.

One `read(...)` per sync pass: the REST API's deployed stages (methods from the deployment's `apiSummary`,
their integrations from the API), usage plans and keys, authorizers, VPC links, custom domain names (rules and
mappings), every NLB's listeners and every ALB's listener rules (ALB mode), and their target groups with
health-check settings and registered targets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import domains
from .domains import Domain


@dataclass
class Method:
    verb: str
    authorization: str
    api_key_required: bool
    authorizer_id: str | None
    scopes: list[str]
    integration: dict[str, Any]


@dataclass
class Stage:
    name: str
    routes: dict[str, dict[str, Method]]  # resource path -> verb -> method, as deployed
    method_settings: dict[str, dict[str, Any]]
    cache_enabled: bool


@dataclass
class Plan:
    id: str
    throttle: dict[str, Any]
    quota: dict[str, Any]
    stages: dict[str, dict[str, Any]]  # stage -> {"throttle": {"/path/VERB": {...}}}
    key_ids: set[str]


@dataclass
class Snapshot:
    api_id: str = ""
    api_name: str = ""
    key_source: str = "HEADER"
    stages: dict[str, Stage] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)  # key value -> {id, enabled}
    plans: list[Plan] = field(default_factory=list)
    authorizers: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: dict[str, list[str]] = field(default_factory=dict)  # VPC link id -> target (NLB) ARNs
    links_v2: set[str] = field(default_factory=set)  # VPC link v2 ids: the integration names the NLB
    lb_dns: dict[str, str] = field(default_factory=dict)  # NLB ARN -> DNS name
    listeners: dict[tuple[str, int], str] = field(default_factory=dict)  # (NLB ARN, port) -> listener ARN
    forwards: dict[str, str] = field(default_factory=dict)  # listener ARN -> target group ARN
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)  # target group ARN -> description
    targets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # target group ARN -> (id, port)
    albs: set[str] = field(default_factory=set)  # the ARNs of the application load balancers
    # ALB listener ARN -> its rules by priority: (priority, [(header name, values)] or None when a condition
    # is not a header one, target group ARN or None) and its default action (a fixed response, or a forward).
    rules: dict[str, list[tuple[int, list[tuple[str, list[str]]] | None, str | None]]] = field(default_factory=dict)
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)  # ALB listener ARN -> its default action
    domains: dict[str, Domain] = field(default_factory=dict)  # custom domain names (host -> rules, mappings)
    default_endpoint: bool = True  # the API's /{stage} endpoint is served (not disableExecuteApiEndpoint)


def _all(client, op: str, key: str, **kw) -> list[dict]:
    return client.get_paginator(op).paginate(**kw).build_full_result().get(key, [])


def read(apigateway, elbv2, rest_api_id: str, apigatewayv2=None) -> Snapshot:
    snap = Snapshot(api_id=rest_api_id)
    read_load_balancers(elbv2, snap)
    api = apigateway.get_rest_api(restApiId=rest_api_id)
    snap.api_name, snap.key_source = api.get("name", ""), api.get("apiKeySource") or "HEADER"
    snap.default_endpoint = not api.get("disableExecuteApiEndpoint")
    resources = _all(apigateway, "get_resources", "items", restApiId=rest_api_id, embed=["methods"])
    current = {r["path"]: r.get("resourceMethods") or {} for r in resources}
    for st in apigateway.get_stages(restApiId=rest_api_id).get("item", []):
        summary = apigateway.get_deployment(restApiId=rest_api_id, deploymentId=st["deploymentId"],
                                            embed=["apisummary"]).get("apiSummary") or {}
        routes: dict[str, dict[str, Method]] = {}
        for path, verbs in summary.items():
            for verb, deployed in verbs.items():
                m = current.get(path, {}).get(verb)
                if m is None:  # deleted since the deployment: its integration is gone with it
                    continue
                routes.setdefault(path, {})[verb] = Method(
                    verb, deployed.get("authorizationType", "NONE"), bool(deployed.get("apiKeyRequired")),
                    m.get("authorizerId"), list(m.get("authorizationScopes") or []),
                    dict(m.get("methodIntegration") or {}))
        snap.stages[st["stageName"]] = Stage(st["stageName"], routes, st.get("methodSettings") or {},
                                             bool(st.get("cacheClusterEnabled")))
    for k in _all(apigateway, "get_api_keys", "items", includeValues=True):
        snap.keys[k["value"]] = {"id": k["id"], "enabled": bool(k.get("enabled"))}
    for p in _all(apigateway, "get_usage_plans", "items"):
        stages = {s["stage"]: s for s in p.get("apiStages", []) if s.get("apiId") == rest_api_id}
        if stages:
            key_ids = {k["id"] for k in _all(apigateway, "get_usage_plan_keys", "items", usagePlanId=p["id"])}
            snap.plans.append(Plan(p["id"], p.get("throttle") or {}, p.get("quota") or {}, stages, key_ids))
    snap.authorizers = {a["id"]: a for a in apigateway.get_authorizers(restApiId=rest_api_id).get("items", [])}
    snap.links = {v["id"]: v.get("targetArns", []) for v in _all(apigateway, "get_vpc_links", "items")}
    if apigatewayv2 is not None:
        snap.domains = domains.read(apigateway, apigatewayv2)
        token = ""  # botocore has no paginator for apigatewayv2 GetVpcLinks
        while True:
            page = apigatewayv2.get_vpc_links(**({"NextToken": token} if token else {}))
            snap.links_v2 |= {v["VpcLinkId"] for v in page.get("Items", [])}
            token = page.get("NextToken")
            if not token:
                break
    return snap


def _forward(actions: list[dict]) -> str | None:
    return next((a["TargetGroupArn"] for a in actions if a.get("Type") == "forward" and a.get("TargetGroupArn")), None)


def read_load_balancers(elbv2, snap: Snapshot) -> None:
    for lb in _all(elbv2, "describe_load_balancers", "LoadBalancers"):
        if lb.get("Type") not in ("network", "application"):
            continue
        snap.lb_dns[lb["LoadBalancerArn"]] = lb["DNSName"].lower()  # DNS names are case-insensitive (RFC 4343);
        # a URL's host comes lower-cased, and a name CloudFormation generates has capitals (portico-local-LoadB-…)
        for li in _all(elbv2, "describe_listeners", "Listeners", LoadBalancerArn=lb["LoadBalancerArn"]):
            snap.listeners[(lb["LoadBalancerArn"], int(li["Port"]))] = li["ListenerArn"]
            if lb["Type"] == "application":  # HTTP: routed by the listener's rules (the gateway applies them)
                snap.albs.add(lb["LoadBalancerArn"])
                read_rules(elbv2, snap, li)
            elif tg := _forward(li.get("DefaultActions", [])):
                snap.forwards[li["ListenerArn"]] = tg
    wanted = set(snap.forwards.values()) | {tg for rules in snap.rules.values() for *_, tg in rules if tg}
    for tg in _all(elbv2, "describe_target_groups", "TargetGroups"):
        if tg["TargetGroupArn"] in wanted:
            snap.groups[tg["TargetGroupArn"]] = tg
            health = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
            snap.targets[tg["TargetGroupArn"]] = [(d["Target"]["Id"], int(d["Target"].get("Port") or tg["Port"]))
                                                  for d in health]


def read_rules(elbv2, snap: Snapshot, listener: dict) -> None:
    arn, rules = listener["ListenerArn"], []
    snap.defaults[arn] = (listener.get("DefaultActions") or [{}])[0]
    for r in _all(elbv2, "describe_rules", "Rules", ListenerArn=arn):
        if r.get("IsDefault"):
            continue
        headers = [((c.get("HttpHeaderConfig") or {}).get("HttpHeaderName", "").lower(),
                    list((c.get("HttpHeaderConfig") or {}).get("Values") or []))
                   for c in r.get("Conditions", []) if c.get("Field") == "http-header"]
        only_headers = len(headers) == len(r.get("Conditions", []))
        rules.append((int(r["Priority"]), headers if only_headers else None, _forward(r.get("Actions", []))))
    snap.rules[arn] = sorted(rules, key=lambda rule: rule[0])
