"""The reads that make an `Observed`: paginated and batched."""

from __future__ import annotations

import json
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from ..clients import Clients
from ..errors import error_code, is_not_found
from ..pace import MARGIN, RATES
from ..settings import Settings
from ..state import StateTable
from .values import (
    EcsService,
    Listener,
    LoadBalancer,
    Method,
    Observed,
    ProductObserved,
    Resource,
    Rule,
    StageState,
    TargetGroup,
    alarm_prefix,
    dashboard_name,
    dashboard_pages,
    ecs_key,
)

READERS = 8  # ECS and ELB reads made side by side (the clients' pacer keeps them within each API's read rate)
LATE_OVER = int(RATES["ECS_READ"][0] * MARGIN)  # task definitions observation reads at most at once (read_ecs)


def observe(clients: Clients, settings: Settings, state: StateTable,
            ecs_services: list[tuple[str, str]] = (), link_version: str | None = None,
            api: Observed | None = None) -> Observed:
    """`link_version`: the VPC links to plan with; default, the state table's choice, else the settings'. After the
    state table, the reads of each API (the pool, target groups, the API's resources and authorizer, ECS, the
    alarms and dashboard) go side by side: none needs another's answer, and each API has its own rate. `api`: an
    earlier read of this pass whose API side (resources, authorizer, stage, alarms, dashboard) the pass has not
    changed since: kept, not read again (GetResources is 5 pages a 2 s, a page per 500 resources)."""
    snapshot = state.snapshot()
    if settings.backend == "alb" and snapshot.header_secret is None:  # the first ALB pass of a stack makes it
        snapshot.header_secret = state.header_secret()
    with ThreadPoolExecutor(6, thread_name_prefix="portico-observe") as pool:
        reads = {
            "load_balancers": pool.submit(read_load_balancers, clients.elbv2, settings,
                                          {led.listener_arn for led in snapshot.ledgers.values()},
                                          link_version or snapshot.link_version,
                                          snapshot.pool_arns),
            "target_groups": pool.submit(read_target_groups, clients.elbv2),
            "ecs": pool.submit(read_ecs, clients.ecs, ecs_services, snapshot.task_definitions,
                               {led.ecs for led in snapshot.ledgers.values() if led.ecs})}
        if api is None:
            reads.update(
                resources=pool.submit(read_resources, clients.apigateway, settings.rest_api_id),
                cognito_authorizer=pool.submit(read_cognito_authorizer, clients.apigateway, settings.rest_api_id),
                product=pool.submit(read_product, clients, settings))
        kept = {} if api is None else {"resources": api.resources, "cognito_authorizer": api.cognito_authorizer,
                                        "product": api.product}
        return Observed(state=snapshot, **kept, **{name: read.result() for name, read in reads.items()})


def read_load_balancers(elbv2, settings: Settings, owned: set[str | None] = frozenset(),
                        link_version: str | None = None, members: tuple[str, ...] = ()) -> dict[str, LoadBalancer]:
    """Each load balancer of the pool with its listeners by port: the configured ones and `members`, the ones
    portico added (reached through the v2 link only). AWS refuses a second listener on a port; should a reader
    ever see two (emulators accept them), portico's own (`owned` ARNs) is the one kept."""
    grown = list(members) if (link_version or settings.link_version) == "v2" else []
    found = _pool(elbv2, list(settings.links(link_version)), grown)
    links = settings.links(link_version, members)
    out: dict[str, LoadBalancer] = {}
    for lb in found:
        link, target = links[lb["LoadBalancerArn"]]
        out[lb["LoadBalancerArn"]] = LoadBalancer(
            lb["LoadBalancerArn"], lb["DNSName"], link, integration_target=target,
            state=(lb.get("State") or {}).get("Code", "active"), type=lb.get("Type", "network"),
            subnets=tuple(az["SubnetId"] for az in lb.get("AvailabilityZones", []) if az.get("SubnetId")),
            security_groups=tuple(lb.get("SecurityGroups") or ()))
    with ThreadPoolExecutor(READERS, thread_name_prefix="portico-read") as pool:  # one load balancer's a thread
        listeners = dict(zip(out, pool.map(lambda arn: _listeners(elbv2, arn), out), strict=True))
    for arn, lb in out.items():
        for li, rules in listeners[arn]:
            tgs = tuple(a["TargetGroupArn"] for a in li.get("DefaultActions", []) if a.get("TargetGroupArn"))
            if lb.listeners.get(li["Port"]) and lb.listeners[li["Port"]].arn in owned:
                continue
            lb.listeners[li["Port"]] = Listener(li["ListenerArn"], li["Port"], li.get("Protocol", ""), tgs)
            if rules is not None:
                lb.listeners[li["Port"]].rules = rules
    return out


def _listeners(elbv2, arn: str) -> list[tuple[dict[str, Any], dict[str, Rule] | None]]:
    """A load balancer's listeners, each with its rules if it is an ALB's (every rule counts toward its quota)."""
    return [(li, read_rules(elbv2, li["ListenerArn"]) if li.get("Protocol") in ("HTTP", "HTTPS") else None)
            for page in elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=arn,
                                                                           PaginationConfig={"PageSize": 400})
            for li in page["Listeners"]]


def _pool(elbv2, configured: list[str], members: list[str]) -> list[dict[str, Any]]:
    """The pool's load balancers: in one DescribeLoadBalancers when they fit its "up to 20 load balancers in a
    single call" (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeLoadBalancers.html),
    one read less a pass. A member deleted outside portico fails that call (LoadBalancerNotFound): then the
    configured ones (whose absence is an error) and the members apart."""
    if members and len(configured) + len(members) <= 20:
        try:
            return elbv2.describe_load_balancers(LoadBalancerArns=configured + members)["LoadBalancers"]
        except ClientError as exc:
            if error_code(exc) != "LoadBalancerNotFound":
                raise
    found = elbv2.describe_load_balancers(LoadBalancerArns=configured)["LoadBalancers"]
    return found + [lb for i in range(0, len(members), 20) for lb in _members(elbv2, members[i:i + 20])]


def _members(elbv2, arns: list[str]) -> list[dict[str, Any]]:
    """The pool's added load balancers (≤ 20 ARNs a call, DescribeLoadBalancers' maximum); one deleted outside
    portico (LoadBalancerNotFound fails the whole call) is left out, so the rest of the pool is still served."""
    try:
        return elbv2.describe_load_balancers(LoadBalancerArns=arns)["LoadBalancers"]
    except ClientError as exc:
        if error_code(exc) != "LoadBalancerNotFound":
            raise
    return [] if len(arns) == 1 else [lb for arn in arns for lb in _members(elbv2, [arn])]


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
                health_protocol=tg.get("HealthCheckProtocol", ""), health_path=tg.get("HealthCheckPath"),
                health_timing=_timing(tg))
    return out


def _timing(tg: dict[str, Any]) -> tuple[int, int, int, int] | None:
    keys = ("HealthCheckIntervalSeconds", "HealthCheckTimeoutSeconds", "HealthyThresholdCount",
            "UnhealthyThresholdCount")
    return tuple(int(tg[k]) for k in keys) if all(k in tg for k in keys) else None  # type: ignore[return-value]


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


def read_ecs(ecs, wanted: list[tuple[str, str]], known: dict[str, dict[str, Any]] | None = None,
             attached: set[str] | None = None) -> dict[str, EcsService | None]:
    """ECS services by "cluster/service", 10 per DescribeServices; their task definitions that `known` (portico's
    cache) lacks, one DescribeTaskDefinition each, added to it for the caller to keep. The calls go READERS at a
    time: the clients' pacer keeps them within ECS's read rate.

    `attached`: the ECS services a ledger names. When more task definitions are missing than ECS's read burst
    answers at once (LATE_OVER), those of the other ECS services (attached by no entry yet: a batch onboarding) are
    left to apply, which reads each at the head of its service's chain (kinds/ecs.check_container): at ~19 a second
    they would hold every ELBv2 call of the pass back (1,000 services: ~50 s), where in the chains they run under
    the ELBv2 calls, which go at half that rate. Their network mode, all the plan needs of them, is in
    DescribeServices: a service has an `awsvpcConfiguration` exactly when its task definition uses awsvpc
    (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html, networkConfiguration:
    "required for task definitions that use the awsvpc network mode ..., and it isn't supported for other
    network modes")."""
    known = {} if known is None else known
    by_cluster: dict[str, list[str]] = defaultdict(list)
    for cluster, service in dict.fromkeys(wanted):
        by_cluster[cluster].append(service)
    chunks = [(cluster, services[i:i + 10]) for cluster, services in by_cluster.items()
              for i in range(0, len(services), 10)]
    with ThreadPoolExecutor(READERS, thread_name_prefix="portico-read") as pool:
        found = {k: svc for part in pool.map(lambda chunk: _describe_services(ecs, *chunk), chunks)
                 for k, svc in part.items()}
        arns = {k: arn for k, svc in found.items() if svc and (arn := svc.get("taskDefinition"))}
        missing = set(arns.values()) - set(known)
        late = missing - {arns[k] for k in arns if k in attached} if attached is not None and \
            len(missing) > LATE_OVER else set()
        new = sorted(missing - late)
        known.update(zip(new, pool.map(lambda arn: task_definition(ecs, arn), new), strict=True))
    return {key: svc and _ecs_service(key, svc, known) for key, svc in found.items()}


def _describe_services(ecs, cluster: str, services: list[str]) -> dict[str, dict[str, Any] | None]:
    """The services' descriptions by key (None: no such service, or INACTIVE)."""
    try:
        resp = ecs.describe_services(cluster=cluster, services=services)
    except ClientError as e:
        if error_code(e) in ("ClusterNotFoundException", "InvalidParameterException"):
            return {ecs_key(cluster, s): None for s in services}
        raise
    found = {s["serviceName"]: s for s in resp.get("services", [])}
    return {ecs_key(cluster, s): svc if (svc := found.get(s.rsplit("/", 1)[-1])) and svc.get("status") != "INACTIVE"
            else None for s in services}


def task_definition(ecs, arn: str) -> dict[str, Any]:
    """What portico needs of a task definition: its network mode and each container's ports (`fresh`: to cache)."""
    td = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    return {"networkMode": td.get("networkMode", "bridge"), "fresh": True, "containers": {
        c["name"]: sorted({pm["containerPort"] for pm in c.get("portMappings", []) if pm.get("containerPort")})
        for c in td.get("containerDefinitions", [])}}


def _ecs_service(key: str, svc: dict[str, Any], known: dict[str, dict[str, Any]]) -> EcsService:
    td_arn = svc.get("taskDefinition", "")
    td = known.get(td_arn) if td_arn else {"networkMode": "bridge", "containers": {}}
    if td is None:  # read by apply (read_ecs): awsvpc or not is all the plan needs, and the service says it
        awsvpc = bool((svc.get("networkConfiguration") or {}).get("awsvpcConfiguration"))
        td = {"networkMode": "awsvpc" if awsvpc else "bridge", "containers": None}  # bridge or host: instances
    return EcsService(key=key, arn=svc["serviceArn"], status=svc.get("status", ""),
                      controller=(svc.get("deploymentController") or {}).get("type", "ECS"),
                      task_definition=td_arn, load_balancers=list(svc.get("loadBalancers") or []),
                      containers=None if td["containers"] is None else
                      {name: {int(p) for p in ports} for name, ports in td["containers"].items()},
                      network_mode=td["networkMode"])


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
