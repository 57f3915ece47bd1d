"""The emulator refuses what AWS refuses, with AWS's error code and message, and portico lives with it.

Each rule is one that moto alone accepts (portico_cli/local_aws/emulator/ documents each with its source).
The clients here make one attempt per call, so the error is AWS's answer, not botocore's last retry.
"""

from __future__ import annotations

import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from portico.clients import Clients
from portico.reconcile import ALL, Reconciler
from portico.registry import Registry
from portico_cli.local_aws import account as local
from portico_cli.local_aws.emulator.apigateway import DEPLOY_INTERVAL, PATCH_OPERATIONS, RESOURCES
from portico_cli.local_aws.emulator.elbv2 import LISTENERS
from tests.conftest import spec_item


@pytest.fixture
def once(stack):
    """boto3 clients that make a single attempt (no botocore retries)."""
    session = local.session(stack.endpoint_url)
    config = Config(retries={"mode": "standard", "max_attempts": 1})
    return lambda name: session.client(name, endpoint_url=stack.endpoint_url, config=config)


def refused(call, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    return exc.value


def error(exc: ClientError) -> tuple[int, str, str]:
    return (exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]["Code"],
            exc.response["Error"]["Message"])


def target_group(elbv2, stack, name: str) -> str:
    return elbv2.create_target_group(Name=name, Protocol="TCP", Port=80, VpcId=stack.vpc_id,
                                     TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]


def listen(elbv2, stack, port: int, tg: str):
    return elbv2.create_listener(LoadBalancerArn=stack.load_balancer_arns[0], Protocol="TCP", Port=port,
                                 DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])["Listeners"][0]


# -- ELBv2 ---------------------------------------------------------------------------------------------
def test_a_second_listener_on_a_port_is_refused_duplicate_listener(stack, once):
    elbv2 = once("elbv2")
    tg = target_group(elbv2, stack, "one")
    first = listen(elbv2, stack, 10000, tg)
    assert error(refused(listen, elbv2=elbv2, stack=stack, port=10000, tg=tg)) == (
        400, "DuplicateListener", "A listener with the specified port already exists.")
    other = listen(elbv2, stack, 10001, tg)
    assert error(refused(elbv2.modify_listener, ListenerArn=other["ListenerArn"], Port=10000))[1] == "DuplicateListener"
    elbv2.modify_listener(ListenerArn=first["ListenerArn"], Port=10000)  # its own port is no conflict
    ports = [li["Port"] for li in elbv2.describe_listeners(LoadBalancerArn=stack.load_balancer_arns[0])["Listeners"]]
    assert sorted(ports) == [10000, 10001]


def test_the_51st_listener_of_a_load_balancer_is_refused_too_many_listeners(stack, once):
    elbv2 = once("elbv2")
    tg = target_group(elbv2, stack, "many")
    for port in range(10000, 10050):  # AWS's 50
        listen(elbv2, stack, port, tg)
    assert error(refused(listen, elbv2=elbv2, stack=stack, port=10050, tg=tg)) == (
        400, "TooManyListeners", "You've reached the limit on the number of listeners per load balancer.")


def test_portico_reports_a_full_load_balancer_as_a_quota(clients, stack, reconciler, monkeypatch):
    monkeypatch.setenv(LISTENERS, "2")
    reg = Registry(clients.dynamodb, stack.registry_table)
    for service in ("orders", "users", "catalog"):
        reg.put_spec(spec_item(service))
    reconciler.run(ALL)
    statuses = {s: reg.get(s)["status"] for s in ("orders", "users", "catalog")}
    assert sorted(statuses.values()) == ["FAILED", "READY", "READY"]
    failed = next(reg.get(s) for s, st in statuses.items() if st == "FAILED")
    assert "TooManyListeners" in failed["statusMessage"] and "an AWS quota is reached" in failed["statusMessage"]


# -- ECS -----------------------------------------------------------------------------------------------
def test_a_sixth_target_group_on_an_ecs_service_is_refused(stack, once):
    elbv2, ecs = once("elbv2"), once("ecs")
    lbs = [{"targetGroupArn": target_group(elbv2, stack, f"tg{i}"), "containerName": "orders", "containerPort": 8080}
           for i in range(6)]
    ecs.update_service(cluster="demo", service="orders", loadBalancers=lbs[:5])
    assert error(refused(ecs.update_service, cluster="demo", service="orders", loadBalancers=lbs)) == (
        400, "InvalidParameterException", "load balancers can have at most 5 items.")
    assert error(refused(ecs.create_service, cluster="demo", serviceName="six", taskDefinition="orders",
                         desiredCount=1, loadBalancers=lbs, networkConfiguration=network(stack))) == (
        400, "InvalidParameterException", "load balancers can have at most 5 items.")
    kept = ecs.describe_services(cluster="demo", services=["orders"])["services"][0]["loadBalancers"]
    assert len(kept) == 5


def network(stack) -> dict:
    return {"awsvpcConfiguration": {"subnets": stack.extra["subnets"].split(","),
                                    "securityGroups": [stack.extra["securityGroup"]]}}


def test_a_service_network_configuration_must_suit_its_task_definitions_network_mode(stack, once):
    """portico reads an awsvpc task definition's mode off its service (observed.read_ecs): AWS keeps them in step."""
    ecs = once("ecs")
    ecs.register_task_definition(family="bridged", networkMode="bridge", containerDefinitions=[
        {"name": "web", "image": "web", "memory": 128, "portMappings": [{"containerPort": 8080}]}])
    assert error(refused(ecs.create_service, cluster="demo", serviceName="bare", taskDefinition="orders",
                         desiredCount=1)) == (
        400, "InvalidParameterException", "Network Configuration must be provided when networkMode 'awsvpc' is "
                                          "specified.")
    assert error(refused(ecs.create_service, cluster="demo", serviceName="bridged", taskDefinition="bridged",
                         desiredCount=1, networkConfiguration=network(stack))) == (
        400, "InvalidParameterException", "Network Configuration is not valid for the given networkMode of this task "
                                          "definition.")
    ecs.create_service(cluster="demo", serviceName="bridged", taskDefinition="bridged", desiredCount=1)
    ecs.create_service(cluster="demo", serviceName="vpc", taskDefinition="orders", desiredCount=1,
                       networkConfiguration=network(stack))


# -- API Gateway -----------------------------------------------------------------------------------------
def test_resources_past_the_quota_are_refused_limit_exceeded(stack, once, monkeypatch):
    monkeypatch.setenv(RESOURCES, "5")  # adjustable on AWS (300 by default): the root and /_portico/health count
    apigw = once("apigateway")
    root = {r["path"]: r["id"] for r in apigw.get_resources(restApiId=stack.rest_api_id)["items"]}["/"]
    apigw.create_resource(restApiId=stack.rest_api_id, parentId=root, pathPart="four")
    apigw.create_resource(restApiId=stack.rest_api_id, parentId=root, pathPart="five")
    assert error(refused(apigw.create_resource, restApiId=stack.rest_api_id, parentId=root, pathPart="six")) == (
        429, "LimitExceededException", "Maximum number of Resources for this API has been reached.  "
                                       "Please contact AWS if you need additional Resources.")


def test_portico_fails_a_service_on_the_resource_quota_without_retrying(clients, stack, reconciler, meter,
                                                                       monkeypatch):
    monkeypatch.setenv(RESOURCES, "4")  # room for /orders, not for /orders/{proxy+}
    reg = Registry(clients.dynamodb, stack.registry_table)
    reg.put_spec(spec_item("orders"))
    meter.reset()
    reconciler.run(ALL)
    item = reg.get("orders")
    assert item["status"] == "FAILED" and "LimitExceededException" in item["statusMessage"]
    assert "an AWS quota is reached" in item["statusMessage"]
    assert meter.count("apigateway", "CreateResource") == 2  # a quota is no throttling: no retry of the refused one


def test_an_oversized_update_stage_is_refused(stack, once):
    apigw = once("apigateway")
    ops = [{"op": "replace", "path": f"/res{i}/GET/metrics/enabled", "value": "true"} for i in range(81)]
    assert error(refused(apigw.update_stage, restApiId=stack.rest_api_id, stageName="dev", patchOperations=ops)) == (
        400, "BadRequestException", "Update size too large. Try updating stage in multiple UpdateStage operations")
    apigw.update_stage(restApiId=stack.rest_api_id, stageName="dev", patchOperations=ops[:80])  # AWS's bound passes
    settings = apigw.get_stage(restApiId=stack.rest_api_id, stageName="dev")["methodSettings"]
    assert len(set(settings) - {"*/*"}) == 80  # and the stage-wide settings every stage has


def test_the_stage_patch_bound_is_configurable(stack, once, monkeypatch):
    monkeypatch.setenv(PATCH_OPERATIONS, "2")
    apigw = once("apigateway")
    ops = [{"op": "replace", "path": f"/res{i}/GET/metrics/enabled", "value": "true"} for i in range(3)]
    assert error(refused(apigw.update_stage, restApiId=stack.rest_api_id, stageName="dev",
                         patchOperations=ops))[1] == "BadRequestException"


def test_create_deployment_is_refused_within_5_seconds_and_portico_paces_to_it(stack, once, monkeypatch):
    clients = Clients.create(stack, boto3_session=local.session(stack.endpoint_url),
                             boto_config=Config(retries={"mode": "standard", "max_attempts": 1}))
    rec = Reconciler(clients, stack.with_(deploy_interval_seconds=5.0))
    reg = Registry(clients.dynamodb, stack.registry_table)
    reg.put_spec(spec_item("orders"))
    first = rec.run(ALL)
    monkeypatch.setenv(DEPLOY_INTERVAL, "5")  # AWS's: 1 per 5 s per account, not adjustable
    start = time.monotonic()
    reg.put_spec(spec_item("users"))
    second = rec.run(ALL)  # paced by portico: no refusal, even with a single attempt per call
    assert first.deployment_id and second.deployment_id and not first.errors and not second.errors
    assert time.monotonic() - start >= 4.5
    assert {reg.get(s)["status"] for s in ("orders", "users")} == {"READY"}
    exc = refused(once("apigateway").create_deployment, restApiId=stack.rest_api_id, stageName="dev")
    assert error(exc) == (429, "TooManyRequestsException", "Too Many Requests")
    assert 1 <= int(exc.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) <= 5


def vpc_link_route(apigw, stack, part: str) -> str:
    root = {r["path"]: r["id"] for r in apigw.get_resources(restApiId=stack.rest_api_id)["items"]}["/"]
    res = apigw.create_resource(restApiId=stack.rest_api_id, parentId=root, pathPart=part)["id"]
    apigw.put_method(restApiId=stack.rest_api_id, resourceId=res, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=stack.rest_api_id, resourceId=res, httpMethod="GET", type="HTTP_PROXY",
                          integrationHttpMethod="GET", uri="http://nlb.internal:10000/", connectionType="VPC_LINK",
                          connectionId=stack.vpc_link_ids[0])
    return res


def test_a_vpc_link_a_stage_deployment_uses_cannot_be_deleted(stack, once, monkeypatch):
    monkeypatch.setenv(DEPLOY_INTERVAL, "0")
    apigw, api, link = once("apigateway"), stack.rest_api_id, stack.vpc_link_ids[0]
    initial = apigw.get_stage(restApiId=api, stageName="qa")["deploymentId"]
    res = vpc_link_route(apigw, stack, "orders")
    assert apigw.get_integration(restApiId=api, resourceId=res, httpMethod="GET")["connectionId"] == link
    routed = apigw.create_deployment(restApiId=api, stageName="dev")["id"]
    exc = refused(apigw.delete_vpc_link, vpcLinkId=link)
    assert error(exc) == (400, "BadRequestException", f"Cannot delete vpc link. Vpc link '{link}', is referenced in "
                          f"[{api}:GET:{res}:dev] in format of [RESTApiId:Method:Resource:Stage].")
    # the API no longer routes through it, but a deployment that does is what qa serves
    apigw.delete_resource(restApiId=api, resourceId=res)
    apigw.update_stage(restApiId=api, stageName="qa", patchOperations=[
        {"op": "replace", "path": "/deploymentId", "value": routed}])
    apigw.create_deployment(restApiId=api, stageName="dev")
    assert f":GET:{res}:qa]" in error(refused(apigw.delete_vpc_link, vpcLinkId=link))[2]
    apigw.update_stage(restApiId=api, stageName="qa", patchOperations=[
        {"op": "replace", "path": "/deploymentId", "value": initial}])
    apigw.delete_vpc_link(vpcLinkId=link)  # a deployment no stage serves does not hold the link
    assert link not in {v["id"] for v in apigw.get_vpc_links()["items"]}


def test_a_deployment_is_deletable_exactly_when_no_stage_points_to_it(stack, once, monkeypatch):
    monkeypatch.setenv(DEPLOY_INTERVAL, "0")
    apigw, api = once("apigateway"), stack.rest_api_id
    first = apigw.create_deployment(restApiId=api, stageName="dev")["id"]
    second = apigw.create_deployment(restApiId=api, stageName="dev")["id"]
    apigw.update_stage(restApiId=api, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/deploymentId", "value": first}])
    assert error(refused(apigw.delete_deployment, restApiId=api, deploymentId=first)) == (
        400, "BadRequestException", "Active stages pointing to this deployment must be moved or deleted")
    apigw.update_stage(restApiId=api, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/deploymentId", "value": second}])
    apigw.delete_deployment(restApiId=api, deploymentId=first)  # made for dev, which serves another one now
    assert first not in {d["id"] for d in apigw.get_deployments(restApiId=api)["items"]}


# -- DynamoDB ------------------------------------------------------------------------------------------
@pytest.fixture
def table(aws):
    """An empty table, and a maker of clients (one per thread keeps their connection pools apart)."""
    session = local.session(aws)
    make = lambda: session.client("dynamodb", endpoint_url=aws)  # noqa: E731
    make().create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    return make


def test_a_failed_transaction_leaves_other_writes_alone(table):
    """A transaction that fails its condition changes nothing, and in particular does not undo the writes other
    requests made while it ran (moto alone restores a copy of the table taken before it began)."""
    from concurrent.futures import ThreadPoolExecutor

    writer, loser = table(), table()
    for n in range(150):  # a table of some size, so a copy of it takes a while
        writer.put_item(TableName="t", Item={"pk": {"S": f"seed#{n}"}, "pad": {"S": "x" * 200}})

    def fail_transactions() -> int:
        failed = 0
        for n in range(20):
            try:
                loser.transact_write_items(TransactItems=[
                    *({"Put": {"TableName": "t", "Item": {"pk": {"S": f"lost#{n}#{k}"}}}} for k in range(50)),
                    {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "absent"}},
                                        "ConditionExpression": "attribute_exists(pk)"}}])
            except ClientError as exc:
                failed += exc.response["Error"]["Code"] == "TransactionCanceledException"
        return failed

    def write() -> None:
        for n in range(100):
            writer.put_item(TableName="t", Item={"pk": {"S": f"ledger#{n}"}})

    with ThreadPoolExecutor(2) as pool:
        failing, writing = pool.submit(fail_transactions), pool.submit(write)
        assert failing.result() == 20
        writing.result()
    keys = {item["pk"]["S"] for page in writer.get_paginator("scan").paginate(TableName="t") for item in page["Items"]}
    assert {f"ledger#{n}" for n in range(100)} <= keys
    assert not {key for key in keys if key.startswith("lost#")}


def test_a_failed_transaction_puts_back_what_it_changed_and_streams_nothing(aws):
    """A cancelled transaction leaves every item it wrote as it was (a new item gone, an updated one unchanged, a
    deleted one back, on a table with a sort key too) and adds no stream record; a committed one adds one per
    item. AWS: all-or-nothing, and a stream record per item a committed write changes
    (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html)."""
    session = local.session(aws)
    ddb, streams = session.client("dynamodb", endpoint_url=aws), session.client("dynamodbstreams", endpoint_url=aws)
    arn = ddb.create_table(TableName="h", BillingMode="PAY_PER_REQUEST",
                           KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                           AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                           StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
                           )["TableDescription"]["LatestStreamArn"]
    ddb.create_table(TableName="hr", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                {"AttributeName": "sk", "KeyType": "RANGE"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}])
    for table, key in (("h", {"pk": {"S": "kept"}}), ("h", {"pk": {"S": "deleted"}}),
                       ("hr", {"pk": {"S": "p"}, "sk": {"S": "kept"}}),
                       ("hr", {"pk": {"S": "p"}, "sk": {"S": "deleted"}})):
        ddb.put_item(TableName=table, Item={**key, "n": {"N": "1"}})

    def items() -> dict:
        return {t: sorted(map(str, ddb.scan(TableName=t)["Items"])) for t in ("h", "hr")}

    def records() -> list[str]:
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        return [r["eventName"] for r in streams.get_records(ShardIterator=it["ShardIterator"])["Records"]]

    before, streamed = items(), records()
    assert streamed == ["INSERT", "INSERT"]
    writes = [{"Put": {"TableName": "h", "Item": {"pk": {"S": "new"}}}},
              {"Update": {"TableName": "h", "Key": {"pk": {"S": "kept"}}, "UpdateExpression": "SET n = :two",
                          "ExpressionAttributeValues": {":two": {"N": "2"}}}},
              {"Delete": {"TableName": "h", "Key": {"pk": {"S": "deleted"}}}},
              {"Put": {"TableName": "hr", "Item": {"pk": {"S": "p"}, "sk": {"S": "new"}}}},
              {"Put": {"TableName": "hr", "Item": {"pk": {"S": "q"}, "sk": {"S": "new"}}}},
              {"Update": {"TableName": "hr", "Key": {"pk": {"S": "p"}, "sk": {"S": "kept"}},
                          "UpdateExpression": "SET n = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
              {"Delete": {"TableName": "hr", "Key": {"pk": {"S": "p"}, "sk": {"S": "deleted"}}}}]
    failing = {"ConditionCheck": {"TableName": "h", "Key": {"pk": {"S": "absent"}},
                                  "ConditionExpression": "attribute_exists(pk)"}}
    exc = refused(ddb.transact_write_items, TransactItems=[*writes, failing])
    assert exc.response["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in exc.response["CancellationReasons"]] == ["None"] * len(writes) + [
        "ConditionalCheckFailed"]
    assert items() == before
    assert records() == streamed
    ddb.transact_write_items(TransactItems=writes)
    assert records() == [*streamed, "INSERT", "MODIFY", "REMOVE"]
    after = {t: {(i["pk"]["S"], i.get("sk", {}).get("S")): i.get("n", {}).get("N")
                 for i in ddb.scan(TableName=t)["Items"]} for t in ("h", "hr")}
    assert after == {"h": {("new", None): None, ("kept", None): "2"},
                     "hr": {("p", "new"): None, ("q", "new"): None, ("p", "kept"): "2"}}



def test_a_transaction_takes_100_actions_and_refuses_the_101st_as_aws_does(table):
    """TransactWriteItems "groups up to 100 action requests"
    (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html): 100 are
    written, 101 are refused whole with a ValidationException naming the constraint, and nothing is written
    (botocore checks only the list's minimum, so the 101 reach the emulator)."""
    ddb = table()

    def puts(prefix: str, count: int) -> list[dict]:
        return [{"Put": {"TableName": "t", "Item": {"pk": {"S": f"{prefix}#{k}"}}}} for k in range(count)]

    ddb.transact_write_items(TransactItems=puts("taken", 100))
    status, code, message = error(refused(ddb.transact_write_items, TransactItems=puts("refused", 101)))
    assert (status, code) == (400, "ValidationException")
    assert message.startswith("1 validation error detected: Value '["
                              "com.amazonaws.dynamodb.v20120810.TransactWriteItem@")
    assert message.count("TransactWriteItem@") == 101
    assert message.endswith("]' at 'transactItems' failed to satisfy constraint: "
                            "Member must have length less than or equal to 100")
    keys = [item["pk"]["S"] for page in ddb.get_paginator("scan").paginate(TableName="t") for item in page["Items"]]
    assert sorted(keys) == sorted(f"taken#{k}" for k in range(100))


def test_reads_answer_every_attribute_type_as_written(table):
    """The emulator writes read answers (GetItem, BatchGetItem, Query, Scan) without moto's shape serializer: every
    attribute type comes back as it was put, binary ones included, with the pagination key and consumed capacity."""
    ddb = table()
    item = {"pk": {"S": "a"}, "n": {"N": "1.5"}, "b": {"B": b"\x00\x01"}, "t": {"BOOL": True}, "z": {"NULL": True},
            "m": {"M": {"x": {"L": [{"S": "y"}, {"N": "2"}]}}}, "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]},
            "bs": {"BS": [b"q"]}}
    other = {"pk": {"S": "c"}, "s": {"S": "ünïcode \" quoted"}}
    ddb.put_item(TableName="t", Item=item)
    ddb.put_item(TableName="t", Item=other)
    assert ddb.get_item(TableName="t", Key={"pk": {"S": "a"}}, ConsistentRead=True)["Item"] == item
    got = ddb.batch_get_item(RequestItems={"t": {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "c"}}]}})
    assert sorted(got["Responses"]["t"], key=str) == sorted([item, other], key=str)
    assert ddb.query(TableName="t", KeyConditionExpression="pk = :a",
                     ExpressionAttributeValues={":a": {"S": "c"}})["Items"] == [other]
    page = ddb.scan(TableName="t", Limit=1, ReturnConsumedCapacity="TOTAL")
    assert page["Count"] == 1 and page["LastEvaluatedKey"] == {"pk": page["Items"][0]["pk"]}
    assert page["ConsumedCapacity"]["TableName"] == "t"
    rest = ddb.scan(TableName="t", ExclusiveStartKey=page["LastEvaluatedKey"])["Items"]
    assert sorted([*page["Items"], *rest], key=str) == sorted([item, other], key=str)
