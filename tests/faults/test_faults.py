"""Faults injected into real boto3 clients (botocore's retry logic runs): throttling, 5xx, read timeouts,
quota errors and a process crash after every k-th mutating call."""

from __future__ import annotations

import pytest

from portico.clients import DEFAULT_CONFIG
from portico.streampoll import fake_context
from portico.triggers.stream import handle

# botocore's `max_attempts` counts retries; the first attempt comes on top.
MAX_ATTEMPTS = DEFAULT_CONFIG.retries["max_attempts"] + 1

# (service, operation, fault kind, text that appears only in the failing service's request)
TRANSIENT = [
    ("elbv2", "CreateTargetGroup", "throttle", "portico-users"),
    ("elbv2", "CreateListener", "throttle", "portico-users"),
    ("ecs", "UpdateService", "throttle", '"users"'),
    ("apigateway", "CreateResource", "throttle", '"users"'),
    ("apigateway", "PutIntegration", "throttle", ":10001/"),
    ("dynamodb", "TransactWriteItems", "throttle", "svc#users"),
    ("elbv2", "CreateListener", "5xx", "portico-users"),
    ("apigateway", "CreateResource", "5xx", '"users"'),
    ("ecs", "UpdateService", "5xx", '"users"'),
    ("elbv2", "CreateTargetGroup", "timeout", "portico-users"),
    ("ecs", "UpdateService", "timeout", '"users"'),
]


def deliver(world, reconciler, records=None):
    records = world.stream_records() if records is None else records
    response = handle({"Records": records}, fake_context(), reconciler)
    failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    return records, [r for r in records if r["dynamodb"]["SequenceNumber"] in failed]


@pytest.mark.parametrize(("service", "operation", "kind", "needle"), TRANSIENT,
                         ids=[f"{k}-{s}-{o}" for s, o, k, _ in TRANSIENT])
def test_transient_fault_past_retries_keeps_pending_and_fails_only_that_record(
        world, injector, portico_clients, backoff, service, operation, kind, needle):
    world.put("orders")
    world.put("users")
    rule = injector.fail(kind, service, operation, times=None, needle=needle)
    reconciler = world.reconciler(clients=portico_clients)

    records, failed = deliver(world, reconciler)

    items = world.items()
    assert items["users"]["status"] == "PENDING", items["users"]
    assert items["users"]["statusMessage"].startswith("will retry:")
    assert items["orders"]["status"] == "READY", items["orders"]
    assert [r["dynamodb"]["Keys"]["service"]["S"] for r in failed] == ["users"]
    # botocore's own retries ran: every failing call was tried MAX_ATTEMPTS times, with backoff between.
    assert rule.hits % MAX_ATTEMPTS == 0 and rule.hits >= MAX_ATTEMPTS
    assert len(backoff) >= MAX_ATTEMPTS - 1
    assert world.audit() == []

    injector.clear()
    _, failed_again = deliver(world, reconciler, failed)  # Lambda redelivers the failed record
    assert failed_again == []
    assert {k: v["status"] for k, v in world.items().items()} == {"orders": "READY", "users": "READY"}
    assert world.audit(converged=True) == []


@pytest.mark.parametrize(("service", "operation", "kind", "needle"), TRANSIENT[:6],
                         ids=[f"{k}-{s}-{o}" for s, o, k, _ in TRANSIENT[:6]])
def test_throttling_within_retries_is_invisible(world, injector, portico_clients, backoff, service, operation,
                                                kind, needle):
    world.put("orders")
    world.put("users")
    rule = injector.fail(kind, service, operation, times=MAX_ATTEMPTS - 1, needle=needle)

    _, failed = deliver(world, world.reconciler(clients=portico_clients))

    assert failed == []
    assert rule.hits == MAX_ATTEMPTS - 1
    assert {k: v["status"] for k, v in world.items().items()} == {"orders": "READY", "users": "READY"}
    assert world.audit(converged=True) == []


QUOTA = [
    ("apigateway", "CreateResource", "LimitExceededException", '"users"'),
    ("apigateway", "PutIntegration", "LimitExceededException", ":10001/"),
    ("elbv2", "CreateListener", "TooManyListeners", "portico-users"),
    ("elbv2", "CreateTargetGroup", "TooManyTargetGroups", "portico-users"),
]


@pytest.mark.parametrize(("service", "operation", "code", "needle"), QUOTA, ids=[f"{s}-{c}" for s, _, c, _ in QUOTA])
def test_quota_error_is_failed_at_once_with_a_clear_message(world, injector, portico_clients, backoff, service,
                                                            operation, code, needle):
    world.put("orders")
    world.put("users")
    rule = injector.fail("limit", service, operation, times=None, code=code, needle=needle)

    _, failed = deliver(world, world.reconciler(clients=portico_clients))

    assert failed == []  # a quota is terminal: retrying the record cannot fix it
    assert rule.hits == 1, "a quota error must not be retried"
    users = world.items()["users"]
    assert users["status"] == "FAILED", users
    assert code in users["statusMessage"] and "quota" in users["statusMessage"], users["statusMessage"]
    assert world.items()["orders"]["status"] == "READY"
    assert world.audit() == []


def test_whole_pass_failure_retries_every_record(world, injector, portico_clients, backoff):
    world.put("orders")
    world.put("users")
    injector.fail("throttle", "dynamodb", "BatchGetItem", times=None)

    records, failed = deliver(world, world.reconciler(clients=portico_clients))

    assert len(failed) == len(records) == 2
    assert {v["status"] for v in world.items().values()} == {"PENDING"}
