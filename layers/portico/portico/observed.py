"""Observed state: what AWS and portico's ledger say now. Reads only, paginated and batched.

ELB and API Gateway are read whole (a free port or path can only be chosen knowing every listener and
resource, foreign ones included); ECS is read only for the services in scope, 10 per DescribeServices.
The product kinds' state is read here too: the reconciled stage, portico's alarms and its dashboard.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from .clients import Clients
from .errors import error_code, is_not_found
from .settings import Settings
from .state import Ledger, StateSnapshot, StateTable


@dataclass
class Rule:
    """A non-default rule of an ALB listener: its conditions as (field, header name, values) and forwards."""

    arn: str
    priority: int
    conditions: tuple[tuple[str, str | None, tuple[str, ...]], ...]
    target_group_arns: tuple[str, ...]


@dataclass
class Listener:
    arn: str
    port: int
    protocol: str
    target_group_arns: tuple[str, ...]
    rules: dict[str, Rule] = field(default_factory=dict)  # HTTP(S) listeners (an ALB's): by rule ARN


@dataclass
class LoadBalancer:
    arn: str
    dns: str
    vpc_link: str
    listeners: dict[int, Listener] = field(default_factory=dict)
    integration_target: str | None = None  # the NLB itself, when the link is a v2 one


@dataclass
class TargetGroup:
    arn: str
    name: str
    port: int
    protocol: str
    target_type: str
    health_protocol: str
    health_path: str | None


@dataclass
class Method:
    http_method: str
    authorization: str
    api_key_required: bool
    authorizer_id: str | None
    integration: dict[str, Any]


@dataclass
class Resource:
    id: str
    path: str
    parent_id: str | None
    methods: dict[str, Method] = field(default_factory=dict)


@dataclass
class EcsService:
    key: str  # "cluster/service" as written in the spec
    arn: str
    status: str
    controller: str
    task_definition: str
    load_balancers: list[dict[str, Any]]
    containers: dict[str, set[int]] = field(default_factory=dict)  # name -> container ports
    network_mode: str = "awsvpc"


@dataclass
class StageState:
    name: str
    deployment_id: str | None
    method_settings: dict[str, dict[str, Any]]
    cache_cluster_enabled: bool


@dataclass
class ProductObserved:
    api_name: str = ""
    stage: StageState | None = None
    alarms: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> describe_alarms entry
    dashboard: dict[str, Any] | None = None  # parsed body, None when there is none
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)  # the dashboard's pages 2..K by name


@dataclass
class Observed:
    state: StateSnapshot
    load_balancers: dict[str, LoadBalancer]
    target_groups: dict[str, TargetGroup]  # by name
    resources: dict[str, Resource]  # by path
    ecs: dict[str, EcsService | None]  # "cluster/service" -> service, None when it does not exist
    cognito_authorizer: str | None = None  # id of the API's Cognito authorizer, when the stack has one
    product: ProductObserved | None = None  # the reconciled stage, portico's alarms and dashboard

    def ledger_target_groups(self, ledger: Ledger | None) -> dict[str, str]:
        """The ledger's target groups by name, with ARNs from AWS where the ledger only holds the name (a
        target group recorded before its create call, which a crash may have cut short)."""
        if not ledger:
            return {}
        return {name: (self.target_groups[name].arn if name in self.target_groups else arn)
                for name, arn in ledger.target_groups.items()}


def alarm_prefix(stack: str) -> str:
    return f"{stack}-svc-"


def dashboard_name(stack: str, page: int = 1) -> str:
    return f"{stack}-services" if page == 1 else f"{stack}-services-{page}"


def dashboard_pages(body: dict[str, Any] | None) -> int:
    """How many pages the services dashboard has, as its first page's header says ("page 1 of K")."""
    header = ((body or {}).get("widgets") or [{}])[0].get("properties", {}).get("markdown", "")
    found = re.search(r"page 1 of (\d+)", header)
    return int(found.group(1)) if found else 1


def ecs_key(cluster: str, service: str) -> str:
    return f"{cluster.rsplit('/', 1)[-1]}/{service.rsplit('/', 1)[-1]}"


def observe(clients: Clients, settings: Settings, state: StateTable,
            ecs_services: list[tuple[str, str]] = (), link_version: str | None = None) -> Observed:
    """`link_version`: the VPC links to plan with; default, the state table's choice, else the settings'."""
    snapshot = state.snapshot()
    return Observed(
        state=snapshot,
        load_balancers=read_load_balancers(clients.elbv2, settings,
                                           {led.listener_arn for led in snapshot.ledgers.values()},
                                           link_version or snapshot.link_version),
        target_groups=read_target_groups(clients.elbv2),
        resources=read_resources(clients.apigateway, settings.rest_api_id),
        ecs=read_ecs(clients.ecs, ecs_services, snapshot.task_definitions),
        cognito_authorizer=read_cognito_authorizer(clients.apigateway, settings.rest_api_id),
        product=read_product(clients, settings),
    )


def read_load_balancers(elbv2, settings: Settings, owned: set[str | None] = frozenset(),
                        link_version: str | None = None) -> dict[str, LoadBalancer]:
    """Each NLB with its listeners by port. AWS refuses a second listener on a port; should a reader ever
    see two (emulators accept them), portico's own (`owned` ARNs) is the one kept."""
    links = settings.links(link_version)
    out: dict[str, LoadBalancer] = {}
    resp = elbv2.describe_load_balancers(LoadBalancerArns=list(links))
    for lb in resp["LoadBalancers"]:
        link, target = links[lb["LoadBalancerArn"]]
        out[lb["LoadBalancerArn"]] = LoadBalancer(lb["LoadBalancerArn"], lb["DNSName"], link, integration_target=target)
    for arn, lb in out.items():
        for page in elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=arn,
                                                                       PaginationConfig={"PageSize": 400}):
            for li in page["Listeners"]:
                tgs = tuple(a["TargetGroupArn"] for a in li.get("DefaultActions", []) if a.get("TargetGroupArn"))
                if lb.listeners.get(li["Port"]) and lb.listeners[li["Port"]].arn in owned:
                    continue
                lb.listeners[li["Port"]] = Listener(li["ListenerArn"], li["Port"], li.get("Protocol", ""), tgs)
                if li.get("Protocol") in ("HTTP", "HTTPS"):  # an ALB's: every rule counts toward its quota
                    lb.listeners[li["Port"]].rules = read_rules(elbv2, li["ListenerArn"])
    return out


def _forwards(actions: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(arn for a in actions if a.get("Type") == "forward" for arn in (
        [a["TargetGroupArn"]] if a.get("TargetGroupArn") else
        [t["TargetGroupArn"] for t in (a.get("ForwardConfig") or {}).get("TargetGroups", [])])))


def read_rules(elbv2, listener_arn: str) -> dict[str, Rule]:
    out: dict[str, Rule] = {}
    for page in elbv2.get_paginator("describe_rules").paginate(ListenerArn=listener_arn,
                                                               PaginationConfig={"PageSize": 400}):
        for r in page["Rules"]:
            if r.get("IsDefault") or r.get("Priority") == "default":
                continue
            conditions = tuple((c.get("Field", ""), (c.get("HttpHeaderConfig") or {}).get("HttpHeaderName"),
                                tuple((c.get("HttpHeaderConfig") or {}).get("Values") or c.get("Values") or ()))
                               for c in r.get("Conditions", []))
            out[r["RuleArn"]] = Rule(r["RuleArn"], int(r["Priority"]), conditions, _forwards(r.get("Actions", [])))
    return out


def read_target_groups(elbv2) -> dict[str, TargetGroup]:
    out: dict[str, TargetGroup] = {}
    for page in elbv2.get_paginator("describe_target_groups").paginate(PaginationConfig={"PageSize": 400}):
        for tg in page["TargetGroups"]:
            out[tg["TargetGroupName"]] = TargetGroup(
                arn=tg["TargetGroupArn"], name=tg["TargetGroupName"], port=tg.get("Port", 0),
                protocol=tg.get("Protocol", ""), target_type=tg.get("TargetType", ""),
                health_protocol=tg.get("HealthCheckProtocol", ""), health_path=tg.get("HealthCheckPath"))
    return out


def read_resources(apigateway, rest_api_id: str) -> dict[str, Resource]:
    out: dict[str, Resource] = {}
    for page in apigateway.get_paginator("get_resources").paginate(
            restApiId=rest_api_id, embed=["methods"], PaginationConfig={"PageSize": 500}):
        for r in page["items"]:
            res = Resource(r["id"], r["path"], r.get("parentId"))
            for verb, m in (r.get("resourceMethods") or {}).items():
                res.methods[verb] = Method(verb, m.get("authorizationType", "NONE"), bool(m.get("apiKeyRequired")),
                                           m.get("authorizerId"), dict(m.get("methodIntegration") or {}))
            out[r["path"]] = res
    return out


def read_tags(elbv2, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for d in elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"]
            for t in d.get("Tags", [])}


def read_cognito_authorizer(apigateway, rest_api_id: str) -> str | None:
    items = apigateway.get_authorizers(restApiId=rest_api_id, limit=500).get("items", [])
    return next((a["id"] for a in sorted(items, key=lambda a: a.get("name", ""))
                 if a.get("type") == "COGNITO_USER_POOLS"), None)


def read_ecs(ecs, wanted: list[tuple[str, str]],
             known: dict[str, dict[str, Any]] | None = None) -> dict[str, EcsService | None]:
    """ECS services by "cluster/service". `known`: task definition summaries already read (portico's cache);
    the ones described now are added to it, for the caller to keep."""
    out: dict[str, EcsService | None] = {}
    known = {} if known is None else known
    by_cluster: dict[str, list[str]] = defaultdict(list)
    for cluster, service in dict.fromkeys(wanted):
        by_cluster[cluster].append(service)
    for cluster, services in by_cluster.items():
        for i in range(0, len(services), 10):
            chunk = services[i:i + 10]
            try:
                resp = ecs.describe_services(cluster=cluster, services=chunk)
            except ClientError as e:
                if error_code(e) in ("ClusterNotFoundException", "InvalidParameterException"):
                    for s in chunk:
                        out[ecs_key(cluster, s)] = None
                    continue
                raise
            found = {s["serviceName"]: s for s in resp.get("services", [])}
            for s in chunk:
                svc = found.get(s.rsplit("/", 1)[-1])
                if svc is None or svc.get("status") == "INACTIVE":
                    out[ecs_key(cluster, s)] = None
                    continue
                td_arn = svc.get("taskDefinition", "")
                if td_arn and td_arn not in known:
                    td = ecs.describe_task_definition(taskDefinition=td_arn)["taskDefinition"]
                    known[td_arn] = {"networkMode": td.get("networkMode", "bridge"), "fresh": True, "containers": {
                        c["name"]: sorted({pm["containerPort"] for pm in c.get("portMappings", [])
                                           if pm.get("containerPort")})
                        for c in td.get("containerDefinitions", [])}}
                td = known.get(td_arn) or {"networkMode": "bridge", "containers": {}}
                containers = {name: {int(p) for p in ports} for name, ports in td["containers"].items()}
                out[ecs_key(cluster, s)] = EcsService(
                    key=ecs_key(cluster, s), arn=svc["serviceArn"], status=svc.get("status", ""),
                    controller=(svc.get("deploymentController") or {}).get("type", "ECS"),
                    task_definition=td_arn, load_balancers=list(svc.get("loadBalancers") or []),
                    containers=containers, network_mode=td["networkMode"])
    return out


def read_product(clients: Clients, settings: Settings) -> ProductObserved:
    out = ProductObserved()
    apigw = clients.apigateway
    out.api_name = apigw.get_rest_api(restApiId=settings.rest_api_id).get("name", "")
    try:
        st = apigw.get_stage(restApiId=settings.rest_api_id, stageName=settings.stage)
        out.stage = StageState(name=settings.stage, deployment_id=st.get("deploymentId"),
                               method_settings=dict(st.get("methodSettings") or {}),
                               cache_cluster_enabled=bool(st.get("cacheClusterEnabled")))
    except ClientError as exc:
        if not is_not_found(exc):
            raise
    cw = clients.cloudwatch
    if cw is None:
        return out
    for page in cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix=alarm_prefix(settings.stack),
                                                             AlarmTypes=["MetricAlarm"]):
        for alarm in page.get("MetricAlarms", []):
            out.alarms[alarm["AlarmName"]] = alarm
    try:
        body = cw.get_dashboard(DashboardName=dashboard_name(settings.stack)).get("DashboardBody")
        out.dashboard = json.loads(body) if body else None
    except ClientError as exc:
        if not is_not_found(exc):
            raise
    for page in range(2, dashboard_pages(out.dashboard) + 1):
        name = dashboard_name(settings.stack, page)
        try:
            out.pages[name] = json.loads(cw.get_dashboard(DashboardName=name).get("DashboardBody") or "{}")
        except ClientError as exc:
            if not is_not_found(exc):
                raise
    return out
