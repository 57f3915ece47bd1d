"""Onboarding, convergence, drift repair and offboarding against the moto server."""

from __future__ import annotations

import pytest

from portico.reconcile import ALL
from portico.registry import Registry
from portico.state import TOKEN_TAG, StateTable, token
from tests.conftest import spec_item


def put(clients, stack, *items):
    reg = Registry(clients.dynamodb, stack.registry_table)
    for item in items:
        reg.put_spec(item)
    return reg


def listeners(clients, stack):
    lb = stack.load_balancer_arns[0]
    return {li["Port"]: li for li in clients.elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"]}


def resources(clients, stack):
    items = clients.apigateway.get_resources(restApiId=stack.rest_api_id, embed=["methods"], limit=500)["items"]
    return {r["path"]: r for r in items}


def ecs_lbs(clients, name):
    return clients.ecs.describe_services(cluster="demo", services=[name])["services"][0]["loadBalancers"]


def onboard_three(clients, stack, reconciler):
    reg = put(clients, stack, spec_item("orders"), spec_item("users", auth="API_KEY", healthCheckPath="/healthz"),
              spec_item("catalog", path="/shop/catalog", methods=["GET", "POST"], auth="IAM"))
    return reg, reconciler.run(ALL)


def test_onboard_three_services(clients, stack, reconciler, meter):
    reg, outcome = onboard_three(clients, stack, reconciler)
    assert {s: st.status for s, st in outcome.statuses.items()} == {"catalog": "READY", "orders": "READY",
                                                                    "users": "READY"}
    lb = clients.elbv2.describe_load_balancers(LoadBalancerArns=list(stack.load_balancer_arns))["LoadBalancers"][0]
    got = listeners(clients, stack)
    items = {s: reg.get(s) for s in ("orders", "users", "catalog")}
    ports = {s: int(i["listenerPort"]) for s, i in items.items()}
    assert sorted(ports.values()) == [10000, 10001, 10002] and set(got) == set(ports.values())
    api = resources(clients, stack)
    for service, item in items.items():
        assert item["status"] == "READY" and item["specHash"]
        assert item["invokeUrl"] == (f"https://{stack.rest_api_id}.execute-api.us-east-1.amazonaws.com/dev"
                                     f"{item['path']}")
        port = ports[service]
        tg_arn = item["targetGroupArn"]
        assert got[port]["DefaultActions"][0]["TargetGroupArn"] == tg_arn
        tags = {t["Key"]: t["Value"] for t in clients.elbv2.describe_tags(
            ResourceArns=[tg_arn, got[port]["ListenerArn"]])["TagDescriptions"][0]["Tags"]}
        nonce = StateTable(clients.dynamodb, stack.state_table).snapshot().ledgers[service].nonce
        tg_name = tg_arn.split("/")[-2]
        assert tags == {"portico:stack": "portico", "portico:service": service, TOKEN_TAG: token(nonce, tg_name)}
        for path, proxy in ((item["path"], False), (item["path"] + "/{proxy+}", True)):
            methods = api[path]["resourceMethods"]
            assert set(methods) == ({"GET", "POST"} if service == "catalog" else {"ANY"})
            for verb, m in methods.items():
                integ = m["methodIntegration"]
                assert integ["type"] == "HTTP_PROXY" and integ["connectionType"] == "VPC_LINK"
                assert integ["uri"] == f"http://{lb['DNSName']}:{port}/" + ("{proxy}" if proxy else "")
                assert integ["httpMethod"] == verb
        assert ecs_lbs(clients, service) == [{"targetGroupArn": tg_arn, "containerName": "app",
                                              "containerPort": 3000 if service == "catalog" else 8080}]
    auth = {s: (api[items[s]["path"]]["resourceMethods"][v]["authorizationType"],
                api[items[s]["path"]]["resourceMethods"][v]["apiKeyRequired"])
            for s, v in (("orders", "ANY"), ("users", "ANY"), ("catalog", "GET"))}
    assert auth == {"orders": ("NONE", False), "users": ("NONE", True), "catalog": ("AWS_IAM", False)}
    tg = clients.elbv2.describe_target_groups(TargetGroupArns=[items["users"]["targetGroupArn"]])["TargetGroups"][0]
    assert (tg["HealthCheckProtocol"], tg["HealthCheckPath"], tg["TargetType"]) == ("HTTP", "/healthz", "ip")
    assert "/shop" in api  # intermediate resource created for /shop/catalog
    assert outcome.deployment_id and clients.apigateway.get_stage(
        restApiId=stack.rest_api_id, stageName="dev")["deploymentId"] == outcome.deployment_id


def test_second_pass_makes_no_mutating_call_and_no_status_write(clients, stack, reconciler, meter):
    onboard_three(clients, stack, reconciler)
    meter.reset()
    outcome = reconciler.run(ALL)
    assert outcome.plan.steps == [] and outcome.deployment_id is None
    assert meter.writes() == {} and meter.writes(dynamodb=True) == {}
    assert reconciler.run(ALL, dry_run=True).plan.to_json() == {"steps": [], "failed": []}


def test_one_deployment_per_pass(clients, stack, reconciler, meter):
    put(clients, stack, *[spec_item(f"svc-{i}", ecsService="orders", path=f"/p{i}") for i in range(4)])
    reconciler.run(ALL)
    assert meter.count("apigateway", "CreateDeployment") == 1


def test_offboarding_removes_exactly_what_portico_created(clients, stack, reconciler, meter):
    reg, _ = onboard_three(clients, stack, reconciler)
    before_api = set(resources(clients, stack))
    catalog = reg.get("catalog")
    reg.delete("catalog")
    meter.reset()
    outcome = reconciler.run(["catalog"])
    assert outcome.removed == ["catalog"] and outcome.deployment_id
    assert meter.count("apigateway", "CreateDeployment") == 1
    assert set(resources(clients, stack)) == before_api - {"/shop", "/shop/catalog", "/shop/catalog/{proxy+}"}
    assert int(catalog["listenerPort"]) not in listeners(clients, stack)
    assert ecs_lbs(clients, "catalog") == []
    tgs = {t["TargetGroupArn"] for t in clients.elbv2.describe_target_groups()["TargetGroups"]}
    assert catalog["targetGroupArn"] not in tgs
    snap = reconciler.state.snapshot()
    assert "catalog" not in snap.ledgers and "catalog" not in snap.paths.values()
    assert "catalog" not in snap.ports.values() and "/shop" not in snap.intermediates
    # The released port is handed out again.
    put(clients, stack, spec_item("again", ecsService="catalog", containerPort=3000))
    reconciler.run(["again"])
    assert int(reg.get("again")["listenerPort"]) == int(catalog["listenerPort"])


def test_foreign_objects_are_never_touched(clients, stack, reconciler):
    lb = stack.load_balancer_arns[0]
    elb, api = clients.elbv2, clients.apigateway
    foreign_tg = elb.create_target_group(Name="team-x", Protocol="TCP", Port=80, VpcId=stack.vpc_id,
                                         TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    foreign_listener = elb.create_listener(LoadBalancerArn=lb, Protocol="TCP", Port=10000, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": foreign_tg}])["Listeners"][0]
    root = resources(clients, stack)["/"]["id"]
    legacy = api.create_resource(restApiId=stack.rest_api_id, parentId=root, pathPart="legacy")
    clients.ecs.update_service(cluster="demo", service="orders", loadBalancers=[
        {"targetGroupArn": foreign_tg, "containerName": "app", "containerPort": 8080}])
    reg = put(clients, stack, spec_item("orders"), spec_item("legacy", ecsService="users"))
    reconciler.run(ALL)
    # The foreign listener's port was skipped, its path refused, its ECS entry kept.
    assert int(reg.get("orders")["listenerPort"]) == 10001
    assert reg.get("legacy")["status"] == "FAILED"
    assert "already exists on the REST API and was not created by portico" in reg.get("legacy")["statusMessage"]
    mine = reg.get("orders")["targetGroupArn"]
    assert [x["targetGroupArn"] for x in ecs_lbs(clients, "orders")] == [foreign_tg, mine]
    reg.delete("orders")
    reconciler.run(ALL)
    assert listeners(clients, stack)[10000]["ListenerArn"] == foreign_listener["ListenerArn"]
    assert resources(clients, stack)["/legacy"]["id"] == legacy["id"]
    assert [x["targetGroupArn"] for x in ecs_lbs(clients, "orders")] == [foreign_tg]


def test_drift_is_repaired_by_a_sweep(clients, stack, reconciler, meter):
    reg, _ = onboard_three(clients, stack, reconciler)
    orders = reg.get("orders")
    port = int(orders["listenerPort"])
    clients.elbv2.delete_listener(ListenerArn=listeners(clients, stack)[port]["ListenerArn"])
    api = resources(clients, stack)
    clients.apigateway.put_integration(
        restApiId=stack.rest_api_id, resourceId=api["/users"]["id"], httpMethod="ANY", type="HTTP_PROXY",
        integrationHttpMethod="ANY", uri="http://elsewhere:1/", connectionType="VPC_LINK",
        connectionId=stack.vpc_link_ids[0])
    clients.ecs.update_service(cluster="demo", service="catalog", loadBalancers=[])
    plan = reconciler.run(ALL, dry_run=True).plan
    assert sorted((s.action, s.service) for s in plan.steps) == [
        ("attach_ecs", "catalog"), ("create_listener", "orders"), ("deploy", "*"), ("put_integration", "users")]
    reconciler.run(ALL)
    assert listeners(clients, stack)[port]["DefaultActions"][0]["TargetGroupArn"] == orders["targetGroupArn"]
    assert resources(clients, stack)["/users"]["resourceMethods"]["ANY"]["methodIntegration"]["uri"].endswith(
        f":{int(reg.get('users')['listenerPort'])}/")
    assert len(ecs_lbs(clients, "catalog")) == 1
    meter.reset()
    assert reconciler.run(ALL).plan.steps == [] and meter.writes() == {}


def test_deleted_resource_and_target_group_come_back(clients, stack, reconciler):
    reg, _ = onboard_three(clients, stack, reconciler)
    api = resources(clients, stack)
    clients.apigateway.delete_resource(restApiId=stack.rest_api_id, resourceId=api["/orders/{proxy+}"]["id"])
    reconciler.run(ALL)
    assert resources(clients, stack)["/orders/{proxy+}"]["resourceMethods"]["ANY"]["methodIntegration"]["uri"]


def test_spec_change_moves_the_route(clients, stack, reconciler):
    reg, _ = onboard_three(clients, stack, reconciler)
    old = reg.get("orders")
    put(clients, stack, spec_item("orders", path="/v2/orders", healthCheckPath="/ping", methods=["GET"]))
    outcome = reconciler.run(["orders"])
    new = reg.get("orders")
    assert outcome.statuses["orders"].status == "READY", outcome.statuses
    api = resources(clients, stack)
    assert "/orders" not in api and set(api["/v2/orders"]["resourceMethods"]) == {"GET"}
    assert new["listenerPort"] == old["listenerPort"]  # the port stays with the service
    assert reconciler.run(ALL, dry_run=True).plan.steps == []


def test_container_port_change_replaces_the_target_group(clients, stack, reconciler):
    reg, _ = onboard_three(clients, stack, reconciler)
    old = reg.get("orders")["targetGroupArn"]
    clients.ecs.register_task_definition(family="orders", networkMode="awsvpc", containerDefinitions=[
        {"name": "app", "image": "x", "memory": 128, "portMappings": [{"containerPort": 9090}]}])
    clients.ecs.update_service(cluster="demo", service="orders", taskDefinition="orders:2")
    put(clients, stack, spec_item("orders", containerPort=9090))
    outcome = reconciler.run(["orders"])
    assert outcome.statuses["orders"].status == "READY", outcome.statuses["orders"]
    new = reg.get("orders")["targetGroupArn"]
    assert new != old
    assert [x["targetGroupArn"] for x in ecs_lbs(clients, "orders")] == [new]
    assert old not in {t["TargetGroupArn"] for t in clients.elbv2.describe_target_groups()["TargetGroups"]}


@pytest.mark.parametrize(("item", "words"), [
    (spec_item("ghost", cluster="nope"), "was not found in cluster 'nope'"),
    (spec_item("ghost"), "ECS service 'ghost' was not found"),
    (spec_item("orders", containerPort=9999), "no container in task definition orders:1 maps port 9999"),
    (spec_item("orders", containerName="sidecar"), "'sidecar' is not a container"),
    (spec_item("orders", auth="COGNITO"), "COGNITO needs the stack's Cognito authorizer"),
])
def test_aws_dependent_errors_fail_without_writes(clients, stack, reconciler, meter, item, words):
    reg = put(clients, stack, item)
    meter.reset()
    outcome = reconciler.run([item["service"]])
    st = reg.get(item["service"])
    assert st["status"] == "FAILED" and words in st["statusMessage"], st["statusMessage"]
    assert meter.writes() == {}
    assert outcome.statuses[item["service"]].status == "FAILED"


def test_deployment_controller_and_five_target_groups(clients, stack, reconciler, meter):
    ecs = clients.ecs
    subnets = stack.extra["subnets"].split(",")
    net = {"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [stack.extra["securityGroup"]]}}
    ecs.create_service(cluster="demo", serviceName="blue", taskDefinition="orders", desiredCount=1,
                       deploymentController={"type": "CODE_DEPLOY"}, networkConfiguration=net)
    tgs = [clients.elbv2.create_target_group(Name=f"full-{i}", Protocol="TCP", Port=8080, VpcId=stack.vpc_id,
                                             TargetType="ip")["TargetGroups"][0]["TargetGroupArn"] for i in range(5)]
    ecs.update_service(cluster="demo", service="users", loadBalancers=[
        {"targetGroupArn": t, "containerName": "app", "containerPort": 8080} for t in tgs])
    reg = put(clients, stack, spec_item("blue"), spec_item("users"))
    meter.reset()
    reconciler.run(ALL)
    assert "CODE_DEPLOY deployment controller" in reg.get("blue")["statusMessage"]
    assert "already has 5 target groups" in reg.get("users")["statusMessage"]
    assert meter.writes() == {}


def test_port_range_exhausted(clients, stack, reconciler):
    from portico.reconcile import Reconciler

    small = Reconciler(clients, stack.with_(port_range=(10000, 10001)), sleep=lambda s: None)
    reg = put(clients, stack, spec_item("orders"), spec_item("users"), spec_item("catalog"))
    small.run(ALL)
    st = reg.get("users")  # catalog and orders took the two ports (alphabetical within one pass)
    assert st["status"] == "FAILED" and "no free listener port" in st["statusMessage"]


def test_path_owned_by_another_service(clients, stack, reconciler):
    reg, _ = onboard_three(clients, stack, reconciler)
    put(clients, stack, spec_item("copycat", ecsService="users", path="/orders"),
        spec_item("nested", ecsService="users", path="/orders/v2"))
    before = resources(clients, stack)
    reconciler.run(["copycat", "nested"])
    assert reg.get("copycat")["statusMessage"] == "path: /orders is /orders, which is owned by service 'orders'"
    assert "overlaps /orders, which is owned by service 'orders'" in reg.get("nested")["statusMessage"]
    assert resources(clients, stack) == before and reg.get("orders")["status"] == "READY"


def test_invalid_update_keeps_the_last_valid_routing(clients, stack, reconciler):
    reg, _ = onboard_three(clients, stack, reconciler)
    put(clients, stack, spec_item("orders", path="/Orders"))
    reconciler.run(["orders"])
    st = reg.get("orders")
    assert st["status"] == "FAILED" and "the last valid routing stays in place" in st["statusMessage"]
    assert "/orders" in resources(clients, stack)


def test_ecs_target_group_limit_counts_attachments_planned_in_the_same_pass(clients, stack, reconciler, meter):
    reg = put(clients, stack, *[spec_item(f"route-{i}", ecsService="orders", path=f"/r{i}") for i in range(7)])
    reconciler.run(ALL)
    statuses = {f"route-{i}": reg.get(f"route-{i}")["status"] for i in range(7)}
    assert list(statuses.values()) == ["READY"] * 5 + ["FAILED"] * 2
    assert "already has 5 target groups" in reg.get("route-6")["statusMessage"]
    assert len(ecs_lbs(clients, "orders")) == 5
    meter.reset()
    reconciler.run(ALL)
    assert meter.writes() == {} and meter.writes(dynamodb=True) == {}  # stable: no flapping statuses


def test_deployments_are_spaced_by_the_account_quota(clients, stack):
    from portico.reconcile import Reconciler

    now = [1000.0]
    slept: list[float] = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    rec = Reconciler(clients, stack.with_(deploy_interval_seconds=5.0), sleep=sleep, clock=lambda: now[0])
    put(clients, stack, spec_item("orders"))
    assert rec.run(ALL).deployment_id
    now[0] += 1.5
    put(clients, stack, spec_item("users"))
    assert rec.run(ALL).deployment_id
    # CreateDeployment: at most 1 per 5 s per account (the other pauses pace PutMetricAlarm at 3 per second)
    from portico.kinds.alarms import CALL_INTERVAL

    assert [s for s in slept if s != pytest.approx(CALL_INTERVAL)] == [pytest.approx(3.5)]


def test_a_converged_sweep_reads_no_task_definition(clients, stack, reconciler, meter):
    """Task definition revisions are immutable: read once, kept in portico's table."""
    onboard_three(clients, stack, reconciler)
    meter.reset()
    reconciler.run(ALL)
    assert meter.count("ecs", "DescribeTaskDefinition") == 0 and meter.count("ecs", "DescribeServices") == 1
