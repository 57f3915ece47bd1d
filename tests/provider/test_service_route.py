"""Custom::ServiceRoute driven through the real provider handler against the moto stack."""

from __future__ import annotations

import logging
import threading
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest

from portico.desired import target_group_name
from portico.registry import Registry
from portico.spec import SpecError, parse
from portico.triggers import default_reconciler, provider
from portico.triggers.cfn import service_route

from .conftest import ORDERS, OTHER_STACK, STACK_ID, context

MUTATING = ("Create", "Delete", "Put", "Update", "Modify", "Register", "Deregister", "Add", "Remove")


def registry(stack, clients) -> Registry:
    return Registry(clients.dynamodb, stack.registry_table)


def listener_ports(stack, clients) -> dict[int, str]:
    lis = clients.elbv2.describe_listeners(LoadBalancerArn=stack.load_balancer_arns[0])["Listeners"]
    return {li["Port"]: li["DefaultActions"][0]["TargetGroupArn"] for li in lis}


def api_paths(stack, clients) -> set[str]:
    return {r["path"] for r in clients.apigateway.get_resources(restApiId=stack.rest_api_id, limit=500)["items"]}


def ecs_target_groups(clients, service="orders") -> list[str]:
    svc = clients.ecs.describe_services(cluster="demo", services=[service])["services"][0]
    return [lb["targetGroupArn"] for lb in svc.get("loadBalancers") or []]


def ledger(stack, clients, service: str) -> bool:
    return "Item" in clients.dynamodb.get_item(TableName=stack.state_table, Key={"pk": {"S": f"svc#{service}"}},
                                               ConsistentRead=True)


def spec_message(**item) -> str:
    with pytest.raises(SpecError) as err:
        parse({**{"service": "orders", "cluster": "demo", "containerPort": 8080, "path": "/orders"}, **item})
    return str(err.value)


def test_create_routes_the_service_and_answers_with_its_attributes(cfn, stack, clients):
    answer = cfn("Create", ORDERS)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["PhysicalResourceId"] == "orders"
    data = answer["Data"]
    assert set(data) == {"ListenerPort", "InvokeUrl", "TargetGroupArn", "Path"}
    assert data["Path"] == "/orders"
    assert data["InvokeUrl"] == f"https://{stack.rest_api_id}.execute-api.us-east-1.amazonaws.com/dev/orders"
    item = registry(stack, clients).get("orders")
    assert item["owner"] == STACK_ID and item["status"] == "READY"
    assert item["containerPort"] == 8080 and item["methods"] == ["GET", "POST"]
    assert listener_ports(stack, clients) == {data["ListenerPort"]: data["TargetGroupArn"]}
    assert ecs_target_groups(clients) == [data["TargetGroupArn"]]
    assert {"/orders", "/orders/{proxy+}"} <= api_paths(stack, clients)


BAD_PROPERTIES = [
    ({"ContainerPort": "80a"}, "ContainerPort", spec_message(containerPort="80a")),
    ({"ContainerPort": "70000"}, "ContainerPort", spec_message(containerPort=Decimal("70000"))),
    ({"Path": "orders"}, "Path", spec_message(path="orders")),
    ({"Methods": ["GET", "FETCH"]}, "Methods", spec_message(methods=["GET", "FETCH"])),
    ({"Service": "Orders"}, "Service", spec_message(service="Orders")),
    ({"ThrottleRate": "fast"}, "ThrottleRate", spec_message(throttleRate="fast")),
    ({"CacheTtlSeconds": "1.5"}, "CacheTtlSeconds", spec_message(cacheTtlSeconds=Decimal("1.5"))),
]


def test_a_bad_property_fails_at_once_with_the_registry_message(cfn, stack, clients):
    for props, field, fragment in BAD_PROPERTIES:
        answer = cfn("Create", {**ORDERS, **props})
        assert answer["Status"] == "FAILED"
        assert answer["Reason"] == f"{fragment} (property {field})"
        assert answer["PhysicalResourceId"].startswith("portico:not-created:")
        assert registry(stack, clients).scan() == {}
        rollback = cfn("Delete", {**ORDERS, **props}, physical=answer["PhysicalResourceId"])
        assert rollback["Status"] == "SUCCESS"


@pytest.mark.parametrize("owner, who", [(OTHER_STACK, f"stack {OTHER_STACK}"),
                                        (None, "someone outside CloudFormation")])
def test_an_entry_owned_by_someone_else_is_never_taken_over(cfn, stack, clients, owner, who):
    reg = registry(stack, clients)
    reg.put_spec({"service": "orders", "cluster": "demo", "containerPort": 8080, "path": "/elsewhere"}, owner=owner)
    answer = cfn("Create", ORDERS)
    assert answer["Status"] == "FAILED"
    assert f"service 'orders' is already in the portico registry, owned by {who}" in answer["Reason"]
    assert "never takes over" in answer["Reason"]
    item = reg.get("orders")
    assert item["path"] == "/elsewhere" and item.get("owner") == owner
    # The rollback's Delete leaves the other owner's entry alone.
    assert cfn("Delete", ORDERS, physical=answer["PhysicalResourceId"])["Status"] == "SUCCESS"
    assert reg.get("orders")["path"] == "/elsewhere"


def test_update_keeps_the_physical_id_and_changes_the_route(cfn, stack, clients):
    created = cfn("Create", ORDERS)
    answer = cfn("Update", {**ORDERS, "Methods": ["ANY"], "HealthCheckPath": "/health"}, physical="orders",
                 old=ORDERS)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["PhysicalResourceId"] == "orders"
    assert answer["Data"]["ListenerPort"] == created["Data"]["ListenerPort"]
    item = registry(stack, clients).get("orders")
    assert item["methods"] == ["ANY"] and item["status"] == "READY"
    res = {r["path"]: r for r in clients.apigateway.get_resources(restApiId=stack.rest_api_id, embed=["methods"],
                                                                   limit=500)["items"]}
    assert set(res["/orders"]["resourceMethods"]) == {"ANY"}
    tg = clients.elbv2.describe_target_groups(TargetGroupArns=[answer["Data"]["TargetGroupArn"]])["TargetGroups"][0]
    assert tg["HealthCheckPath"] == "/health"


def test_replacement_on_another_path_then_delete_of_the_old_id(cfn, stack, clients):
    cfn("Create", ORDERS)
    new = {**ORDERS, "Service": "orders-api", "Path": "/orders-api"}
    answer = cfn("Update", new, physical="orders", old=ORDERS)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["PhysicalResourceId"] == "orders-api" and answer["Data"]["Path"] == "/orders-api"
    reg = registry(stack, clients)
    assert set(reg.scan()) == {"orders", "orders-api"}  # CloudFormation deletes the old one afterwards
    old = cfn("Delete", ORDERS, physical="orders")
    assert old["Status"] == "SUCCESS"
    assert set(reg.scan()) == {"orders-api"} and reg.get("orders-api")["status"] == "READY"
    assert not ledger(stack, clients, "orders")
    assert "/orders" not in api_paths(stack, clients) and "/orders-api" in api_paths(stack, clients)
    assert list(listener_ports(stack, clients).values()) == [answer["Data"]["TargetGroupArn"]]


def test_replacement_on_the_same_path_moves_the_route_and_the_old_delete_keeps_it(cfn, stack, clients):
    cfn("Create", ORDERS)
    new = {**ORDERS, "Service": "orders-api"}
    answer = cfn("Update", new, physical="orders", old=ORDERS)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["PhysicalResourceId"] == "orders-api" and answer["Data"]["Path"] == "/orders"
    reg = registry(stack, clients)
    assert set(reg.scan()) == {"orders-api"}
    assert cfn("Delete", ORDERS, physical="orders")["Status"] == "SUCCESS"  # cleanup of the old id
    assert set(reg.scan()) == {"orders-api"} and reg.get("orders-api")["status"] == "READY"
    assert listener_ports(stack, clients) == {answer["Data"]["ListenerPort"]: answer["Data"]["TargetGroupArn"]}
    # Later deleting the stack removes the new entry for good (no restore: the move was completed).
    assert cfn("Delete", new, physical="orders-api")["Status"] == "SUCCESS"
    assert reg.scan() == {} and listener_ports(stack, clients) == {}


def test_a_rolled_back_move_puts_the_old_entry_back(cfn, stack, clients):
    cfn("Create", ORDERS)
    new = {**ORDERS, "Service": "orders-api"}
    assert cfn("Update", new, physical="orders", old=ORDERS)["Status"] == "SUCCESS"
    # Another resource failed: CloudFormation rolls back by deleting the new physical id, never the old one.
    assert cfn("Delete", new, physical="orders-api")["Status"] == "SUCCESS"
    reg = registry(stack, clients)
    assert set(reg.scan()) == {"orders"}
    item = reg.get("orders")
    assert item["status"] == "READY" and item["owner"] == STACK_ID and item["path"] == "/orders"
    assert "/orders" in api_paths(stack, clients) and len(listener_ports(stack, clients)) == 1


def test_a_failed_replacement_leaves_the_old_route(cfn, stack, clients):
    cfn("Create", ORDERS)
    bad = {**ORDERS, "Service": "orders-api", "EcsService": "nope"}
    answer = cfn("Update", bad, physical="orders", old=ORDERS)
    assert answer["Status"] == "FAILED" and "ecsService" in answer["Reason"]
    assert answer["PhysicalResourceId"] == "orders"
    reg = registry(stack, clients)
    assert set(reg.scan()) == {"orders"} and reg.get("orders")["status"] == "READY"
    assert "/orders" in api_paths(stack, clients)


def test_delete_removes_the_entry_and_tears_the_route_down(cfn, stack, clients):
    created = cfn("Create", ORDERS)
    answer = cfn("Delete", ORDERS, physical="orders")
    assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == "orders"
    assert registry(stack, clients).scan() == {}
    assert not ledger(stack, clients, "orders")
    assert listener_ports(stack, clients) == {}
    assert ecs_target_groups(clients) == []
    assert not {"/orders", "/orders/{proxy+}"} & api_paths(stack, clients)
    tgs = clients.elbv2.describe_target_groups()["TargetGroups"]
    assert created["Data"]["TargetGroupArn"] not in {tg["TargetGroupArn"] for tg in tgs}


def test_a_renamed_resource_keeps_the_entry_when_the_old_logical_id_is_deleted(cfn, stack, clients):
    assert cfn("Create", ORDERS, logical="OrdersRoute")["Status"] == "SUCCESS"
    assert cfn("Create", ORDERS, logical="Route")["Status"] == "SUCCESS"  # same stack, new logical id
    assert cfn("Delete", ORDERS, logical="OrdersRoute", physical="orders")["Status"] == "SUCCESS"
    item = registry(stack, clients).get("orders")
    assert item is not None and item["status"] == "READY"
    assert cfn("Delete", ORDERS, logical="Route", physical="orders")["Status"] == "SUCCESS"
    assert registry(stack, clients).get("orders") is None


def test_a_failing_reconcile_answers_failed_with_the_status_message(cfn, stack, clients):
    # A target group with portico's name that portico did not create: the apply refuses to adopt it.
    name = target_group_name(stack.stack, "orders", 8080, "ip")
    clients.elbv2.create_target_group(Name=name, Protocol="TCP", Port=8080, VpcId=stack.vpc_id, TargetType="ip")
    answer = cfn("Create", ORDERS)
    assert answer["Status"] == "FAILED"
    item = registry(stack, clients).get("orders")
    assert item["status"] == "FAILED"
    assert answer["Reason"] == item["statusMessage"]
    assert "portico did not create it" in answer["Reason"]
    assert answer["PhysicalResourceId"] == "orders"  # the rollback's Delete removes the entry
    assert cfn("Delete", ORDERS, physical="orders")["Status"] == "SUCCESS"
    assert registry(stack, clients).get("orders") is None


def _short_circuit(status: int, code: str, times: int, delay: float = 0.0):
    """A botocore before-call hook answering `times` calls with an error (moto cannot be told to fail)."""
    calls = {"n": 0}

    def hook(**kwargs):
        calls["n"] += 1
        if delay and calls["n"] == 1:
            time.sleep(delay)
        if calls["n"] <= times:
            return SimpleNamespace(status_code=status, headers={}), {
                "Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return None

    return hook, calls


def test_a_transient_error_is_waited_out_and_the_answer_is_success(cfn, stack, clients):
    hook, calls = _short_circuit(503, "ServiceUnavailable", times=1)
    default_reconciler().clients.elbv2.meta.events.register(
        "before-call.elastic-load-balancing-v2.CreateListener", hook)
    answer = cfn("Create", ORDERS)
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert calls["n"] == 2
    assert registry(stack, clients).get("orders")["status"] == "READY"


def test_a_lasting_transient_error_answers_before_the_lambda_times_out(cfn, recorder, stack, monkeypatch):
    hook, _ = _short_circuit(503, "ServiceUnavailable", times=10_000)
    default_reconciler().clients.elbv2.meta.events.register(
        "before-call.elastic-load-balancing-v2.CreateListener", hook)
    monkeypatch.setattr(service_route, "ANSWER_MARGIN_SECONDS", 5.0)
    started = time.monotonic()
    answer = cfn.send(cfn.event("Create", ORDERS), context(seconds=8.0))
    assert time.monotonic() - started < 8.0
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("orders is still PENDING after ")
    assert "ServiceUnavailable" in answer["Reason"]
    assert answer["PhysicalResourceId"] == "orders"


def test_near_the_lambda_timeout_crhelpers_timer_answers_once(cfn, recorder, stack):
    hook, _ = _short_circuit(0, "", times=0, delay=2.5)  # a hanging AWS call
    default_reconciler().clients.elbv2.meta.events.register(
        "before-call.elastic-load-balancing-v2.DescribeLoadBalancers", hook)
    event = cfn.event("Create", ORDERS)
    done = threading.Event()
    worker = threading.Thread(target=lambda: (provider.handler(event, context(seconds=1.5)), done.set()))
    worker.start()
    deadline = time.monotonic() + 10  # the timer answers ~1 s in; a loaded machine may take longer
    while not (answers := recorder.for_request(event["RequestId"])) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [a["Status"] for a in answers] == ["FAILED"]
    assert "ran out of time" in answers[0]["Reason"]
    worker.join(60)
    assert done.is_set()
    assert len(recorder.for_request(event["RequestId"])) == 1  # the late answer was suppressed


def test_duplicate_deliveries_are_harmless(cfn, stack, clients):
    event = cfn.event("Create", ORDERS)
    first = cfn.send(event)
    mutating: list[str] = []
    c = default_reconciler().clients
    for client in (c.elbv2, c.ecs, c.apigateway):
        client.meta.events.register("before-call.*", lambda model, **kw: mutating.append(model.name)
                                    if model.name.startswith(MUTATING) else None)
    event["RequestId"] = event["RequestId"] + "-again"
    second = cfn.send(event)
    assert second["Status"] == first["Status"] == "SUCCESS"
    assert second["Data"] == first["Data"] and second["PhysicalResourceId"] == first["PhysicalResourceId"]
    assert mutating == []
    delete = cfn.event("Delete", ORDERS, physical="orders")
    assert cfn.send(delete)["Status"] == "SUCCESS"
    delete["RequestId"] += "-again"
    assert cfn.send(delete)["Status"] == "SUCCESS"


def test_the_response_is_small_and_the_presigned_url_never_logged(cfn, recorder, caplog):
    caplog.set_level(logging.DEBUG)
    cfn("Create", ORDERS)
    cfn("Delete", ORDERS, physical="orders")
    assert all(len(p["raw"]) <= 4096 for p in recorder.puts)
    assert all(p["headers"].get("content-type", "") == "" for p in recorder.puts)
    assert "secret" not in caplog.text and "X-Amz-Signature" not in caplog.text


def test_a_replacement_that_fails_in_the_reconcile_removes_what_it_wrote(cfn, stack, clients):
    cfn("Create", ORDERS)
    name = target_group_name(stack.stack, "orders-api", 8080, "ip")
    clients.elbv2.create_target_group(Name=name, Protocol="TCP", Port=8080, VpcId=stack.vpc_id, TargetType="ip")
    new = {**ORDERS, "Service": "orders-api", "Path": "/orders-api"}
    answer = cfn("Update", new, physical="orders", old=ORDERS)
    assert answer["Status"] == "FAILED" and "portico did not create it" in answer["Reason"]
    assert answer["PhysicalResourceId"] == "orders"
    reg = registry(stack, clients)
    assert set(reg.scan()) == {"orders"} and reg.get("orders")["status"] == "READY"
    assert not ledger(stack, clients, "orders-api")
    assert "/orders-api" not in api_paths(stack, clients)


def test_the_registry_stream_seeing_the_providers_writes_changes_nothing(cfn, stack, clients, tmp_path):
    """In AWS the stream trigger also sees every entry the provider writes; delivered after the provider's own
    reconcile (moto is single-threaded: deterministic interleaving), it converges to the same state."""
    from portico.triggers.stream import handler as stream_handler
    from portico_cli.local_aws.streampoll import StreamPoller

    created = cfn("Create", ORDERS)
    mutating: list[str] = []
    c = default_reconciler().clients
    for client in (c.elbv2, c.ecs, c.apigateway):
        client.meta.events.register("before-call.*", lambda model, **kw: mutating.append(model.name)
                                    if model.name.startswith(MUTATING) else None)
    poller = StreamPoller(clients.dynamodb, clients.streams, stack.registry_table, stream_handler,
                          checkpoint=tmp_path / "cp.json")
    assert poller.poll_once() >= 1
    assert mutating == []
    assert registry(stack, clients).get("orders")["status"] == "READY"
    assert listener_ports(stack, clients) == {created["Data"]["ListenerPort"]: created["Data"]["TargetGroupArn"]}
    assert cfn("Delete", ORDERS, physical="orders")["Status"] == "SUCCESS"
    poller.poll_once()
    assert mutating.count("CreateListener") == 0 and listener_ports(stack, clients) == {}


def test_a_redelivered_request_gets_the_same_answer_without_any_work(cfn, recorder, stack):
    """Lambda retries an async invocation that timed out; CloudFormation may already be rolling back."""
    event = cfn.event("Create", ORDERS)
    first = cfn.send(event)
    calls: list[str] = []
    c = default_reconciler().clients
    for client in (c.elbv2, c.ecs, c.apigateway):
        client.meta.events.register("before-call.*", lambda model, **kw: calls.append(model.name))
    provider.handler(dict(event), context())
    answers = recorder.for_request(event["RequestId"])
    assert len(answers) == 2 and answers[1] == first  # the same answer, sent again
    assert calls == []


def test_after_a_timeout_answer_the_retry_repeats_it(cfn, recorder, stack):
    hook, _ = _short_circuit(0, "", times=0, delay=2.5)
    default_reconciler().clients.elbv2.meta.events.register(
        "before-call.elastic-load-balancing-v2.DescribeLoadBalancers", hook)
    event = cfn.event("Create", ORDERS)
    provider.handler(dict(event), context(seconds=1.5))  # crhelper's timer answers FAILED; the work goes on
    provider.handler(dict(event), context())
    answers = recorder.for_request(event["RequestId"])
    assert [a["Status"] for a in answers] == ["FAILED", "FAILED"]
    assert answers[0] == answers[1] and "ran out of time" in answers[1]["Reason"]
    # Answered before the entry was written: the late work wrote nothing that the rollback could not find.
    assert answers[0]["PhysicalResourceId"].startswith("portico:not-created:")
    assert registry(stack, default_reconciler().clients).scan() == {}


def test_requests_answered_before_anything_is_written(cfn, stack, clients, monkeypatch):
    # An AWS-dependent check of preflight: the ECS service must exist.
    answer = cfn("Create", {**ORDERS, "EcsService": "nope"})
    assert answer["Status"] == "FAILED"
    assert "ecsService: ECS service 'nope' was not found in cluster 'demo'" in answer["Reason"]
    # An unknown property is named.
    answer = cfn("Create", {**ORDERS, "Pth": "/orders"})
    assert answer["Status"] == "FAILED"
    assert answer["Reason"].startswith("Pth: not a property of Custom::ServiceRoute; allowed: Service, Cluster")
    # An unknown resource type fails Create and deletes quietly.
    answer = cfn("Create", ORDERS, kind="Custom::Route")
    assert answer["Status"] == "FAILED" and "ResourceType: 'Custom::Route' is not served here" in answer["Reason"]
    assert cfn("Delete", ORDERS, kind="Custom::Route", physical=answer["PhysicalResourceId"])["Status"] == "SUCCESS"
    # Deletes of never-created or unknown ids succeed at once.
    for physical in ("portico:not-created:abc", "orders-service_OrdersRoute_A1B2C3D4", "ghost"):
        started = time.monotonic()
        answer = cfn("Delete", ORDERS, physical=physical)
        assert answer["Status"] == "SUCCESS" and answer["PhysicalResourceId"] == physical
        assert time.monotonic() - started < 2
    assert registry(stack, clients).scan() == {}
    # An unconfigured provider names the missing setting.
    monkeypatch.delenv("PORTICO_REST_API_ID")
    default_reconciler.cache_clear()
    answer = cfn("Create", ORDERS)
    assert answer["Status"] == "FAILED"
    assert "portico is not configured: set PORTICO_REST_API_ID" in answer["Reason"]
