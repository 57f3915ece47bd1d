"""A hand-made stack: the parts of template.yaml's stack a test needs, made in a few calls.

The local stack is template.yaml deployed (stack.py, `portico local up`), and so are the tests' stacks
(deployed once per test process and shape, restored from the emulator's snapshot before each test:
tests/conftest.py). `bootstrap` still makes the IAM contract test's stacks (an account without the CloudWatch
role, stages without settings: every permission exercised), the slow 150-service stage test's,
scripts/bench_dataplane.py's, and the one test_local_stack compares with the template: the VPC, subnets,
internal NLBs with their VPC links, REST API and stages, usage-plan tiers, the two tables, plus the demo's ECS
cluster (docs/deploy.md, "The tests' stack"). It is idempotent: it finds what exists by name and creates only
what is missing.
"""

from __future__ import annotations

from portico.settings import Settings
from portico_cli.local_aws.account import CREDENTIALS, REGION, session  # noqa: F401 - the tests' one import
from portico_cli.local_aws.demo import DEMO_CLUSTER, DEMO_SERVICES, create_demo_services  # noqa: F401
from portico_cli.local_aws.emulator import limit
from portico_cli.local_aws.emulator.apigateway import DEPLOY_INTERVAL
from portico_cli.local_aws.server import alive, free_port, start_server, stop_server, wait_for  # noqa: F401

INITIAL_DEPLOYMENT = "initial deployment (portico creates the next ones)"  # the template's InitialDeployment
# What template.yaml gives every stage: X-Ray tracing and MethodSettings `*/*` (metrics on, data trace off, the
# stage throttle at StageThrottleRateLimit/StageThrottleBurstLimit's defaults); test_local_stack compares them.
STAGE_SETTINGS = [{"op": "replace", "path": path, "value": value} for path, value in (
    ("/tracingEnabled", "true"), ("/*/*/metrics/enabled", "true"), ("/*/*/logging/dataTrace", "false"),
    ("/*/*/throttling/rateLimit", "1000"), ("/*/*/throttling/burstLimit", "2000"))]
USAGE_TIERS = {"basic": (10.0, 20, 100_000), "premium": (100.0, 200, 10_000_000)}  # the template's defaults


def _one(items: list, pred):
    return next((i for i in items if pred(i)), None)


def bootstrap(endpoint: str, *, load_balancers: int = 1, stages: tuple[str, ...] = ("dev", "qa", "prod"),
              prefix: str = "portico", demo: bool = True, port_range: tuple[int, int] = (10000, 10999),
              allow_unauthenticated: bool = True, vpc_links: str = "v1", backend: str = "nlb") -> Settings:
    """`vpc_links`: "v1" (a link per NLB), "v2" (one link for the pool, integrations name their NLB) or
    "v1+v2" (both kinds, integrations on v1: a stack ready for `portico migrate-link`). `backend="alb"`: as the
    template's `Backend=alb`, one internal ALB with an HTTP listener (default action: fixed 404) instead of
    the NLB pool, reached through the v2 link (so `vpc_links` is "v2")."""
    if vpc_links not in ("v1", "v2", "v1+v2"):
        raise ValueError(f"vpc_links={vpc_links!r}: expected v1, v2 or v1+v2")
    if backend not in ("nlb", "alb") or (backend == "alb" and vpc_links != "v2"):
        raise ValueError(f"backend={backend!r}: expected nlb, or alb with vpc_links='v2'")
    s = session(endpoint)
    c = {n: s.client(n, endpoint_url=endpoint) for n in ("ec2", "elbv2", "apigateway", "dynamodb", "ecs")}
    ec2, elbv2, apigw, ddb, ecs = c["ec2"], c["elbv2"], c["apigateway"], c["dynamodb"], c["ecs"]

    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [prefix]}])["Vpcs"]
    if vpcs:
        vpc = vpcs[0]["VpcId"]
        found = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
        subnets = [sn["SubnetId"] for sn in found]
        sg = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                   {"Name": "group-name", "Values": [f"{prefix}-tasks"]}])
        sg_id = sg["SecurityGroups"][0]["GroupId"]
    else:
        vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16", TagSpecifications=[
            {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": prefix}]}])["Vpc"]["VpcId"]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=f"{REGION}{az}")
                   ["Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
        sg_id = ec2.create_security_group(GroupName=f"{prefix}-tasks", Description="portico demo tasks",
                                          VpcId=vpc)["GroupId"]

    existing_lbs = {lb["LoadBalancerName"]: lb for lb in elbv2.describe_load_balancers()["LoadBalancers"]}
    links = {v["name"]: v for v in apigw.get_vpc_links(limit=500).get("items", [])}
    lb_arns, link_ids = [], []
    alb_listener = ""
    if backend == "alb":
        alb_arn, alb_listener = _alb(elbv2, ec2, prefix, vpc, subnets, existing_lbs)
        lb_arns.append(alb_arn)
    for i in range(1, load_balancers + 1 if backend == "nlb" else 1):
        name = f"{prefix}-nlb-{i}"
        lb = existing_lbs.get(name) or elbv2.create_load_balancer(
            Name=name, Subnets=subnets, Scheme="internal", Type="network")["LoadBalancers"][0]
        lb_arns.append(lb["LoadBalancerArn"])
        if "v1" in vpc_links:
            link = links.get(name) or apigw.create_vpc_link(name=name, targetArns=[lb["LoadBalancerArn"]])
            link_ids.append(link["id"])
    link_v2 = ""
    if "v2" in vpc_links:  # one VPC link v2 (subnets + security group) reaches every NLB of the pool
        apigw2 = s.client("apigatewayv2", endpoint_url=endpoint)
        name = f"{prefix}-pool"
        link_v2 = (_one(apigw2.get_vpc_links().get("Items", []), lambda v: v["Name"] == name) or
                   apigw2.create_vpc_link(Name=name, SubnetIds=subnets, SecurityGroupIds=[sg_id]))["VpcLinkId"]

    api = _one(apigw.get_rest_apis(limit=500).get("items", []), lambda a: a["name"] == prefix) or \
        apigw.create_rest_api(name=prefix, endpointConfiguration={"types": ["REGIONAL"]},
                              apiKeySource="HEADER", description="portico: ECS services behind one regional API")
    ensure_health_route(apigw, api["id"])
    have_stages = {st["stageName"] for st in apigw.get_stages(restApiId=api["id"]).get("item", [])}
    missing = [stage for stage in stages if stage not in have_stages]
    if missing:  # as the template: one initial deployment, every stage created on it
        initial = apigw.create_deployment(restApiId=api["id"], description=INITIAL_DEPLOYMENT)["id"]
        for stage in missing:
            apigw.create_stage(restApiId=api["id"], stageName=stage, deploymentId=initial)
            apigw.update_stage(restApiId=api["id"], stageName=stage, patchOperations=STAGE_SETTINGS)
    plans = {p["name"]: p for p in apigw.get_usage_plans(limit=500).get("items", [])}
    for tier, (rate, burst, quota) in USAGE_TIERS.items():
        name = f"{prefix}-{tier}"
        if name not in plans:
            apigw.create_usage_plan(name=name, description=f"portico tier {tier}",
                                    apiStages=[{"apiId": api["id"], "stage": st} for st in stages],
                                    throttle={"rateLimit": rate, "burstLimit": burst},
                                    quota={"limit": quota, "period": "MONTH"})

    registry, state = f"{prefix}-registry", f"{prefix}-state"
    tables = set(ddb.list_tables()["TableNames"])
    if registry not in tables:
        ddb.create_table(TableName=registry, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "service", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "service", "AttributeType": "S"}],
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    if state not in tables:
        ddb.create_table(TableName=state, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])

    if demo:
        create_demo_services(ecs, subnets, sg_id)
    # the alarm topic (the template's AlarmTopic): per-service alarms notify it
    alarm_topic = s.client("sns", endpoint_url=endpoint).create_topic(Name=f"{prefix}-alarms")["TopicArn"]

    return Settings(backend=backend, alb_listener_arn=alb_listener,
                    registry_table=registry, state_table=state, rest_api_id=api["id"], stage=stages[0],
                    stages=stages, load_balancer_arns=tuple(lb_arns), vpc_link_ids=tuple(link_ids), vpc_id=vpc,
                    vpc_link_v2_id=link_v2, vpc_link_version="v1" if "v1" in vpc_links else "v2",
                    port_range=port_range, stack=prefix, default_auth="API_KEY",
                    allow_unauthenticated=allow_unauthenticated, deploy_interval_seconds=limit(DEPLOY_INTERVAL, 5),
                    alarm_topic_arn=alarm_topic, endpoint_url=endpoint, region=REGION,
                    extra={"subnets": ",".join(subnets), "securityGroup": sg_id})


def _alb(elbv2, ec2, prefix: str, vpc: str, subnets: list[str], existing: dict) -> tuple[str, str]:
    """The ALB mode's internal ALB (with its security group) and its HTTP listener on 80, whose default action
    answers a fixed 404 (a request no service's rule matches): (ALB ARN, listener ARN)."""
    name = f"{prefix}-alb"
    lb = existing.get(name)
    if lb is None:
        sg = ec2.create_security_group(GroupName=f"{prefix}-alb", Description="portico ALB", VpcId=vpc)["GroupId"]
        lb = elbv2.create_load_balancer(Name=name, Subnets=subnets, SecurityGroups=[sg], Scheme="internal",
                                        Type="application")["LoadBalancers"][0]
    arn = lb["LoadBalancerArn"]
    not_found = {"StatusCode": "404", "ContentType": "application/json", "MessageBody": '{"message": "Not Found"}'}
    listener = next((li for li in elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"] if li["Port"] == 80),
                    None) or elbv2.create_listener(
        LoadBalancerArn=arn, Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": not_found}])["Listeners"][0]
    return arn, listener["ListenerArn"]


def ensure_health_route(apigw, api_id: str) -> None:
    """GET /_portico/health (MOCK, 200): an API needs one method before it can be deployed, as in the template."""
    resources = {r["path"]: r for r in apigw.get_resources(restApiId=api_id, limit=500)["items"]}
    if "/_portico/health" in resources:
        return
    parent = resources.get("/_portico") or apigw.create_resource(
        restApiId=api_id, parentId=resources["/"]["id"], pathPart="_portico")
    health = apigw.create_resource(restApiId=api_id, parentId=parent["id"], pathPart="health")
    apigw.put_method(restApiId=api_id, resourceId=health["id"], httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api_id, resourceId=health["id"], httpMethod="GET", type="MOCK",
                          requestTemplates={"application/json": '{"statusCode": 200}'})
    apigw.put_method_response(restApiId=api_id, resourceId=health["id"], httpMethod="GET", statusCode="200")
    apigw.put_integration_response(restApiId=api_id, resourceId=health["id"], httpMethod="GET", statusCode="200",
                                   responseTemplates={"application/json": '{"status": "ok"}'})
