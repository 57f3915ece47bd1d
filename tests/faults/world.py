"""A small, fast local world for fault, stateful, corpus and scale tests, and the checks they share.

`World.fresh()` resets the moto server and builds, with already-built clients, the few parts of template.yaml's
stack these tests exercise (a VPC, NLBs with their VPC links, the REST API with its health route and one stage, the
two tables), with settings of their own that the checks rely on (one stage, no deployment pacing, fixed table
names; docs/deploy.md, "The tests' stack"); `audit()` reads AWS and portico's table back with boto3 and lists every
broken invariant (duplicate ports, paths routed twice, orphans, foreign objects modified, READY statuses that
are not true in AWS).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import requests

from portico.clients import Clients
from portico.desired import target_group_name
from portico.reconcile import Reconciler
from portico.registry import Registry
from portico.settings import Settings
from portico.spec import PROXY, SpecError, parse
from portico.state import StateTable, from_item
from portico_cli.local_aws import account as local
from portico_cli.local_aws.demo import DEMO_SERVICES
from portico_cli.local_aws.streampoll import StreamPoller

from .injector import Injector

PLATFORM_PATHS = {"/", "/_portico", "/_portico/health"}
_seq = itertools.count(1)


def add_health_route(apigw, api_id: str) -> None:
    """GET /_portico/health (MOCK, 200), as template.yaml's HealthMethod: an API needs a method to be deployed."""
    root = next(r["id"] for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
    parent = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="_portico")
    health = apigw.create_resource(restApiId=api_id, parentId=parent["id"], pathPart="health")
    apigw.put_method(restApiId=api_id, resourceId=health["id"], httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=health["id"], httpMethod="GET", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
    apigw.put_method_response(restApiId=api_id, resourceId=health["id"], httpMethod="GET", statusCode="200")
    apigw.put_integration_response(restApiId=api_id, resourceId=health["id"], httpMethod="GET", statusCode="200",
                                   responseTemplates={"application/json": '{"status": "ok"}'})


def make_clients(endpoint: str) -> Clients:
    settings = Settings(endpoint_url=endpoint, region=local.REGION)
    return Clients.create(settings, boto3_session=local.session(endpoint))


@dataclass
class World:
    endpoint: str
    clients: Clients
    settings: Settings | None = None
    subnets: list[str] = field(default_factory=list)
    security_group: str = ""
    foreign_listeners: dict[str, dict[str, Any]] = field(default_factory=dict)  # arn -> snapshot
    foreign_resources: dict[str, str] = field(default_factory=dict)  # path -> id
    foreign_ecs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # ecs key -> foreign lb entries
    stream_positions: dict[str, str] = field(default_factory=dict)

    # -- set-up ----------------------------------------------------------------------------------------
    def fresh(self, *, load_balancers: int = 1, services: dict[str, int] | None = None, cluster: str = "demo",
              port_range: tuple[int, int] = (10000, 10999), **settings: Any) -> Settings:
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=120).raise_for_status()
        self.foreign_listeners, self.foreign_resources, self.foreign_ecs = {}, {}, {}
        self.stream_positions = {}
        c = self.clients
        vpc = c.ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        self.subnets = [c.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24",
                                            AvailabilityZone=f"{local.REGION}{az}")["Subnet"]["SubnetId"]
                        for i, az in ((1, "a"), (2, "b"))]
        self.security_group = c.ec2.create_security_group(GroupName="tasks", Description="tasks", VpcId=vpc)["GroupId"]
        lbs, links = [], []
        for i in range(1, load_balancers + 1):
            lb = c.elbv2.create_load_balancer(Name=f"portico-nlb-{i}", Subnets=self.subnets, Scheme="internal",
                                              Type="network")["LoadBalancers"][0]
            lbs.append(lb["LoadBalancerArn"])
            link = c.apigateway.create_vpc_link(name=f"portico-nlb-{i}", targetArns=[lb["LoadBalancerArn"]])
            links.append(link["id"])
        api = c.apigateway.create_rest_api(name="portico", endpointConfiguration={"types": ["REGIONAL"]})["id"]
        add_health_route(c.apigateway, api)
        c.apigateway.create_deployment(restApiId=api, stageName="dev")
        for name, key in (("portico-registry", "service"), ("portico-state", "pk")):
            extra = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}} \
                if key == "service" else {}
            c.dynamodb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                                    KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                                    AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}], **extra)
        self.add_ecs_services(services if services is not None else dict(DEMO_SERVICES), cluster=cluster)
        base = dict(registry_table="portico-registry", state_table="portico-state", rest_api_id=api, stage="dev",
                    stages=("dev",), load_balancer_arns=tuple(lbs), vpc_link_ids=tuple(links), vpc_id=vpc,
                    port_range=port_range, stack="portico", default_auth="API_KEY", allow_unauthenticated=True,
                    deploy_interval_seconds=0.0, endpoint_url=self.endpoint, region=local.REGION)
        base.update(settings)
        self.settings = Settings(**base)
        return self.settings

    def add_ecs_services(self, services: dict[str, int | tuple[int, ...]], *, cluster: str = "demo",
                         controller: str = "ECS") -> None:
        ecs = self.clients.ecs
        ecs.create_cluster(clusterName=cluster)
        for name, ports in services.items():
            ports = (ports,) if isinstance(ports, int) else ports
            ecs.register_task_definition(
                family=name, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
                containerDefinitions=[{"name": "app", "image": f"example/{name}", "essential": True,
                                       "portMappings": [{"containerPort": p, "protocol": "tcp"} for p in ports]}])
            ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=name, desiredCount=1,
                               launchType="FARGATE", deploymentController={"type": controller},
                               networkConfiguration={"awsvpcConfiguration": {
                                   "subnets": self.subnets, "securityGroups": [self.security_group]}})

    # -- portico -----------------------------------------------------------------------------------------
    def reconciler(self, injector: Injector | None = None, clients: Clients | None = None, **kw: Any) -> Reconciler:
        clients = clients or self.clients
        if injector is not None:
            injector.attach(clients)
        kw.setdefault("sleep", lambda s: None)
        return Reconciler(clients, self.settings, **kw)

    @property
    def registry(self) -> Registry:
        return Registry(self.clients.dynamodb, self.settings.registry_table)

    @property
    def state(self) -> StateTable:
        return StateTable(self.clients.dynamodb, self.settings.state_table)

    def put(self, service: str, **spec: Any) -> dict[str, Any]:
        item = {"service": service, "cluster": "demo", "containerPort": 8080, "path": f"/{service}", **spec}
        self.registry.put_spec(item)
        return item

    def put_raw(self, item: dict[str, Any]) -> None:
        """Write an item exactly as given (DynamoDB wire form), as a careless or hostile user would."""
        self.clients.dynamodb.put_item(TableName=self.settings.registry_table, Item=item)

    def items(self) -> dict[str, dict[str, Any]]:
        return self.registry.scan()

    def stream_records(self) -> list[dict[str, Any]]:
        """The registry stream records written since the last call, shaped as Lambda delivers them."""
        captured: list[dict[str, Any]] = []
        poller = StreamPoller(self.clients.dynamodb, self.clients.streams, self.settings.registry_table,
                              lambda event, _ctx: captured.append(event) or {}, batch_size=10_000)
        poller.positions = dict(self.stream_positions)
        poller.poll_once()
        self.stream_positions = dict(poller.positions)
        return [r for event in captured for r in event["Records"]]

    # -- a foreign actor -----------------------------------------------------------------------------------
    def foreign_target_group(self, name: str = "team-x-tg") -> str:
        return self.clients.elbv2.create_target_group(Name=name, Protocol="TCP", Port=80, VpcId=self.settings.vpc_id,
                                                      TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]

    def add_foreign_listener(self, port: int, lb_index: int = 0) -> str:
        tg = self.foreign_target_group(f"team-x-{port}")
        lb = self.settings.load_balancer_arns[lb_index]
        arn = self.clients.elbv2.create_listener(LoadBalancerArn=lb, Protocol="TCP", Port=port, DefaultActions=[
            {"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]["ListenerArn"]
        self.foreign_listeners[arn] = {"port": port, "lb": lb, "tg": tg}
        return arn

    def add_foreign_resource(self, path: str) -> str:
        api, apigw = self.settings.rest_api_id, self.clients.apigateway
        ids = {r["path"]: r["id"] for r in apigw.get_resources(restApiId=api, limit=500)["items"]}
        parent = "/"
        for part in path.strip("/").split("/"):
            here = f"{parent.rstrip('/')}/{part}"
            if here not in ids:
                ids[here] = apigw.create_resource(restApiId=api, parentId=ids[parent], pathPart=part)["id"]
                self.foreign_resources[here] = ids[here]
            parent = here
        apigw.put_method(restApiId=api, resourceId=ids[path], httpMethod="GET", authorizationType="NONE")
        return ids[path]

    def add_foreign_ecs_entry(self, ecs_service: str, cluster: str = "demo", port: int = 8080, index: int = 0) -> str:
        tg = self.foreign_target_group(f"team-y-{index}-{ecs_service}"[:32])
        svc = self.clients.ecs.describe_services(cluster=cluster, services=[ecs_service])["services"][0]
        entry = {"targetGroupArn": tg, "containerName": "app", "containerPort": port}
        self.clients.ecs.update_service(cluster=cluster, service=ecs_service,
                                        loadBalancers=list(svc.get("loadBalancers") or []) + [entry])
        self.foreign_ecs.setdefault(f"{cluster}/{ecs_service}", []).append(entry)
        return tg

    # -- reading AWS back ----------------------------------------------------------------------------------
    def listeners(self) -> dict[str, list[dict[str, Any]]]:
        out = {}
        for arn in self.settings.load_balancer_arns:
            out[arn] = [li for page in self.clients.elbv2.get_paginator("describe_listeners").paginate(
                LoadBalancerArn=arn) for li in page["Listeners"]]
        return out

    def target_groups(self) -> dict[str, dict[str, Any]]:
        return {tg["TargetGroupArn"]: tg for page in self.clients.elbv2.get_paginator("describe_target_groups")
                .paginate() for tg in page["TargetGroups"]}

    def tags(self, arns: list[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for i in range(0, len(arns), 20):
            for d in self.clients.elbv2.describe_tags(ResourceArns=arns[i:i + 20])["TagDescriptions"]:
                out[d["ResourceArn"]] = {t["Key"]: t["Value"] for t in d.get("Tags", [])}
        return out

    def resources(self) -> dict[str, dict[str, Any]]:
        return {r["path"]: r for page in self.clients.apigateway.get_paginator("get_resources").paginate(
            restApiId=self.settings.rest_api_id, embed=["methods"]) for r in page["items"]}

    def ecs_services(self, cluster: str = "demo") -> dict[str, dict[str, Any]]:
        arns = [a for page in self.clients.ecs.get_paginator("list_services").paginate(cluster=cluster)
                for a in page["serviceArns"]]
        out = {}
        for i in range(0, len(arns), 10):
            for s in self.clients.ecs.describe_services(cluster=cluster, services=arns[i:i + 10])["services"]:
                out[f"{cluster}/{s['serviceName']}"] = s
        return out

    def state_items(self) -> list[dict[str, Any]]:
        return [from_item(i) for page in self.clients.dynamodb.get_paginator("scan").paginate(
            TableName=self.settings.state_table) for i in page["Items"]]

    # -- invariants ------------------------------------------------------------------------------------------
    def audit(self, *, converged: bool = False, clusters: tuple[str, ...] = ("demo",)) -> list[str]:
        """Every broken invariant, as sentences. `converged`: also require AWS == registry (after a sweep)."""
        s, problems = self.settings, []
        listeners = self.listeners()
        tgs = self.target_groups()
        tags = self.tags(list(tgs) + [li["ListenerArn"] for lis in listeners.values() for li in lis])
        resources = self.resources()
        state = self.state_items()
        ledgers = {d["service"]: d for d in state if d["pk"].startswith("svc#")}
        intermediates = {d["pk"][4:]: d for d in state if d["pk"].startswith("res#")}
        ecs = {k: v for c in clusters for k, v in self.ecs_services(c).items()}

        # 1. No two listeners share a port on one NLB.
        for lb, lis in listeners.items():
            ports = [li["Port"] for li in lis]
            for port in {p for p in ports if ports.count(p) > 1}:
                problems.append(f"port {port} has {ports.count(port)} listeners on {lb.rsplit('/', 2)[-2]}")
        # 2. Foreign objects untouched.
        by_arn = {li["ListenerArn"]: (lb, li) for lb, lis in listeners.items() for li in lis}
        for arn, snap in self.foreign_listeners.items():
            got = by_arn.get(arn)
            if got is None:
                problems.append(f"foreign listener on port {snap['port']} was deleted")
            elif got[1]["Port"] != snap["port"] or \
                    [a.get("TargetGroupArn") for a in got[1]["DefaultActions"]] != [snap["tg"]]:
                problems.append(f"foreign listener on port {snap['port']} was modified")
        for path, rid in self.foreign_resources.items():
            if path not in resources or resources[path]["id"] != rid:
                problems.append(f"foreign API resource {path} was deleted or replaced")
            elif any((m.get("methodIntegration") or {}).get("connectionType") == "VPC_LINK"
                     for m in (resources[path].get("resourceMethods") or {}).values()):
                problems.append(f"foreign API resource {path} was given a portico integration")
        for key, entries in self.foreign_ecs.items():
            have = (ecs.get(key) or {}).get("loadBalancers") or []
            for e in entries:
                if not any(h.get("targetGroupArn") == e["targetGroupArn"] for h in have):
                    problems.append(f"foreign target group {e['targetGroupArn'].rsplit('/', 2)[-2]} was detached "
                                    f"from {key}")
        # 3. Nothing orphaned: every portico-tagged object is in a ledger.
        # A ledger holds each target group by name, with its ARN once the create returned (write-ahead).
        ledger_tgs = {x for d in ledgers.values() for item in (d.get("targetGroups") or {}).items() for x in item}
        for arn, tg in tgs.items():
            if tags.get(arn, {}).get("portico:stack") == s.stack and not {arn, tg["TargetGroupName"]} & ledger_tgs:
                problems.append(f"orphan target group {tg['TargetGroupName']} "
                                f"(service {tags[arn].get('portico:service')})")
        for lb, lis in listeners.items():
            for li in lis:
                t = tags.get(li["ListenerArn"], {})
                if t.get("portico:stack") != s.stack:
                    continue
                d = ledgers.get(t.get("portico:service"))
                if d is None or int(d.get("port") or 0) != li["Port"] or d.get("loadBalancer") != lb:
                    problems.append(f"orphan listener on port {li['Port']} (service {t.get('portico:service')})")
        for key, svc in ecs.items():
            for entry in svc.get("loadBalancers") or []:
                arn = entry.get("targetGroupArn")
                if arn not in tgs:
                    problems.append(f"{key} still points at deleted target group {arn.rsplit('/', 2)[-2]}")
                elif tags.get(arn, {}).get("portico:stack") == s.stack:
                    owner = tags[arn].get("portico:service")
                    d = ledgers.get(owner)
                    if d is None or d.get("ecs") != key:
                        problems.append(f"{key} holds portico target group of {owner} without a ledger saying so")
        routes = {d["path"]: svc for svc, d in ledgers.items() if d.get("path")}
        for path in resources:
            if path in PLATFORM_PATHS or path in self.foreign_resources:
                continue
            base = path[: -len("/" + PROXY)] if path.endswith("/" + PROXY) else path
            if base in routes:
                continue
            if path in intermediates and any(r.startswith(path + "/") for r in routes):
                continue
            if any(f.startswith(path + "/") for f in self.foreign_resources):
                continue  # an ancestor kept because a foreign resource hangs under it
            problems.append(f"orphan API resource {path}")
        for path, marker in intermediates.items():
            # A write-ahead marker (no id yet) without its resource is the crash-safe state of a create that may
            # not have happened; it is legitimate until its service can be reconciled again (a dead pass's claim
            # has expired), never once the stack has converged.
            if path not in resources and (converged or marker.get("resourceId")):
                problems.append(f"intermediate {path} is recorded but does not exist")
        # 4. Reservations: one owner each, owners have ledgers, at most one route per path.
        for d in state:
            kind = d["pk"].split("#", 1)[0]
            if kind in ("port", "path") and d.get("owner") not in ledgers:
                problems.append(f"reservation {d['pk']} held by {d.get('owner')} which has no ledger")
        owners: dict[str, set[str]] = {}
        for path, r in resources.items():
            for m in (r.get("resourceMethods") or {}).values():
                uri = (m.get("methodIntegration") or {}).get("uri") or ""
                if (m.get("methodIntegration") or {}).get("connectionType") == "VPC_LINK":
                    base = path[: -len("/" + PROXY)] if path.endswith("/" + PROXY) else path
                    owners.setdefault(base, set()).add(uri.split("/", 3)[2] if "//" in uri else uri)
        for path, targets in owners.items():
            if len(targets) > 1:
                problems.append(f"path {path} is routed to {len(targets)} different listeners: {sorted(targets)}")
        # 5. A READY status is true in AWS.
        items = self.items()
        dns = {lb["LoadBalancerArn"]: lb["DNSName"] for lb in self.clients.elbv2.describe_load_balancers(
            LoadBalancerArns=list(s.load_balancer_arns))["LoadBalancers"]}
        for service, item in items.items():
            if item.get("status") == "READY" or converged:
                problems += [f"{service}: {p}" for p in self._route_problems(
                    service, item, ledgers.get(service), listeners, tgs, resources, ecs, dns, converged)]
        if converged:
            for service in ledgers:
                if service not in items:
                    problems.append(f"ledger of {service} outlived its registry entry")
        return problems

    def _route_problems(self, service: str, item: dict[str, Any], ledger: dict[str, Any] | None, listeners, tgs,
                        resources, ecs, dns, converged: bool) -> list[str]:
        try:
            st = self.settings
            spec = parse(item, default_auth=st.default_auth, allow_unauthenticated=st.allow_unauthenticated,
                         allowed_clusters=st.allowed_clusters)
        except SpecError:
            if item.get("status") == "READY":
                return ["READY although the entry is invalid"]
            return [] if item.get("status") == "FAILED" else [f"invalid entry has status {item.get('status')}"]
        if item.get("status") == "FAILED":
            return []  # a FAILED entry (path owned by another, ECS problem) is not routed
        if item.get("status") != "READY":
            return [f"status is {item.get('status')} after a sweep"] if converged else []
        out = []
        if item.get("specHash") != spec.digest():
            out.append("READY status is for another spec")
        if ledger is None:
            return out + ["READY without a ledger"]
        port, lb = int(item.get("listenerPort") or 0), ledger.get("loadBalancer")
        li = next((x for x in listeners.get(lb, []) if x["Port"] == port), None)
        tg_name = target_group_name(self.settings.stack, service, spec.container_port, "ip")
        tg = next((t for t in tgs.values() if t["TargetGroupName"] == tg_name), None)
        if li is None:
            out.append(f"no listener on port {port}")
        elif tg is None or [a.get("TargetGroupArn") for a in li["DefaultActions"]] != [tg["TargetGroupArn"]]:
            out.append(f"listener on port {port} does not forward to {tg_name}")
        for path in (spec.path, f"{spec.path}/{PROXY}"):
            r = resources.get(path)
            if r is None:
                out.append(f"API resource {path} is missing")
                continue
            methods = r.get("resourceMethods") or {}
            if set(methods) != set(spec.methods):
                out.append(f"{path} has methods {sorted(methods)}, want {list(spec.methods)}")
            for verb, m in methods.items():
                integ = m.get("methodIntegration") or {}
                if integ.get("connectionType") != "VPC_LINK" or f"//{dns.get(lb)}:{port}/" not in integ.get("uri", ""):
                    out.append(f"{verb} {path} is not integrated with {dns.get(lb)}:{port} via the VPC link")
        svc = ecs.get(f"{spec.cluster_name}/{spec.ecs_service}")
        if tg is not None and svc is not None and not any(
                e.get("targetGroupArn") == tg["TargetGroupArn"] and e.get("containerPort") == spec.container_port
                for e in svc.get("loadBalancers") or []):
            out.append(f"ECS service {spec.ecs_service} does not have {tg_name} in its loadBalancers")
        return out


def new_sequence() -> str:
    return f"{next(_seq):021d}"
