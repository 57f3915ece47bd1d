"""Every event in events/ through its handler, in-process, against the moto server: the events cannot rot."""

from __future__ import annotations

import pytest

from portico.registry import Registry
from portico.spec import plain
from portico.triggers import default_reconciler
from portico_cli.local_aws.streampoll import StreamPoller, fake_context
from tests.metering import CallMeter
from tests.support import event, load_handler, stream_event


@pytest.fixture
def lambda_env(stack, monkeypatch):
    for key, value in stack.to_env().items():
        monkeypatch.setenv(key, value)
    default_reconciler.cache_clear()
    yield stack
    default_reconciler.cache_clear()


@pytest.fixture
def registry(clients, lambda_env):
    return Registry(clients.dynamodb, lambda_env.registry_table)


def run_stream(registry, name):
    return load_handler("stream")(stream_event(name, registry), fake_context())


def test_insert_onboards(registry):
    assert run_stream(registry, "stream-insert.json") == {"batchItemFailures": []}
    assert registry.get("orders")["status"] == "READY"


def test_modify_spec_moves_the_route(registry, clients, lambda_env):
    run_stream(registry, "stream-insert.json")
    assert run_stream(registry, "stream-modify-spec.json") == {"batchItemFailures": []}
    item = registry.get("orders")
    assert item["status"] == "READY" and item["invokeUrl"].endswith("/dev/v2/orders")
    paths = {r["path"] for r in clients.apigateway.get_resources(restApiId=lambda_env.rest_api_id)["items"]}
    assert "/v2/orders" in paths and "/orders" not in paths


def test_status_only_modify_is_a_no_op(registry):
    run_stream(registry, "stream-insert.json")
    meter = CallMeter(default_reconciler().clients.all())  # the clients the handler itself uses
    ev = event("stream-modify-status.json")
    assert load_handler("stream")(event("stream-insert.json"), fake_context()) == {"batchItemFailures": []}
    assert meter.count() > 0  # an INSERT re-reads the entry and AWS (then changes nothing)
    meter.reset()
    assert load_handler("stream")(ev, fake_context()) == {"batchItemFailures": []}
    assert meter.calls == {}  # not even a read: the record only carried portico's own status


def test_remove_offboards(registry, clients, lambda_env):
    run_stream(registry, "stream-insert.json")
    assert run_stream(registry, "stream-remove.json") == {"batchItemFailures": []}
    assert clients.elbv2.describe_listeners(LoadBalancerArn=lambda_env.load_balancer_arns[0])["Listeners"] == []
    assert clients.ecs.describe_services(cluster="demo", services=["orders"])["services"][0]["loadBalancers"] == []


def test_mixed_batch_with_one_invalid_item(registry):
    assert run_stream(registry, "stream-mixed-batch.json") == {"batchItemFailures": []}
    assert registry.get("users")["status"] == "READY" and registry.get("catalog")["status"] == "READY"
    bad = registry.get("Bad_Name")
    assert bad["status"] == "FAILED" and bad["statusMessage"].startswith("invalid entry: service: 'Bad_Name' must")


def test_schedule_sweeps(registry, clients):
    registry.put_spec(plain({"service": "orders", "cluster": "demo", "containerPort": 8080, "path": "/orders",
                             "auth": "NONE"}))
    summary = load_handler("sweeper")(event("schedule.json"), fake_context())
    assert summary["statuses"] == {"READY": 1} and summary["deployment"]
    assert load_handler("sweeper")(event("schedule.json"), fake_context())["steps"] == 0


def test_stream_poller_delivers_like_an_event_source_mapping(registry, clients, lambda_env, tmp_path):
    registry.put_spec({"service": "orders", "cluster": "demo", "containerPort": 8080, "path": "/orders",
                       "auth": "NONE"})
    registry.put_spec({"service": "users", "cluster": "demo", "containerPort": 8080, "path": "/users",
                       "auth": "NONE"})
    handler = load_handler("stream")
    poller = StreamPoller(clients.dynamodb, clients.streams, lambda_env.registry_table, handler,
                          checkpoint=tmp_path / "cp.json")
    assert poller.poll_once() == 2
    assert registry.get("orders")["status"] == registry.get("users")["status"] == "READY"
    # The status writes are in the stream too; delivered, they reconcile nothing.
    assert poller.poll_once() == 2
    assert poller.poll_once() == 0


def test_an_ecs_event_reconciles_the_entries_on_that_ecs_service(registry, clients):
    """Someone detaches portico's target group (UpdateService): the EventBridge rule's event repairs it now."""
    registry.put_spec(plain({"service": "orders", "cluster": "demo", "containerPort": 8080, "path": "/orders",
                             "auth": "NONE"}))
    registry.put_spec(plain({"service": "users", "cluster": "demo", "containerPort": 8080, "path": "/users",
                             "auth": "NONE"}))
    sweeper = load_handler("sweeper")
    sweeper(event("schedule.json"), fake_context())
    attached = clients.ecs.describe_services(cluster="demo", services=["orders"])["services"][0]["loadBalancers"]
    clients.ecs.update_service(cluster="demo", service="orders", loadBalancers=[])  # the foreign change
    summary = sweeper(event("ecs-update-service.json"), fake_context())
    assert summary["statuses"] == {"READY": 1}  # orders only: users is on another ECS service
    assert clients.ecs.describe_services(cluster="demo", services=["orders"])["services"][0]["loadBalancers"] == \
        attached
