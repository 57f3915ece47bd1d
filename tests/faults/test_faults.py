"""Faults injected into real boto3 clients (botocore's retry logic runs): throttling, 5xx, read timeouts,
quota errors and a process crash after every k-th mutating call."""

from __future__ import annotations

import os
import time

import pytest

from portico.clients import DEFAULT_CONFIG
from portico.reconcile import ALL
from portico.state import StateTable
from portico.triggers.stream import handle
from portico_cli.local_aws.streampoll import fake_context

from .injector import Crash

# botocore's `max_attempts` counts retries; the first attempt comes on top.
MAX_ATTEMPTS = DEFAULT_CONFIG.retries["max_attempts"] + 1
LEASE_TTL = StateTable.CLAIM_SECONDS  # the longest lease: a crashed pass's claim on a service's ledger

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


# -- crash after the k-th mutating call -------------------------------------------------------------------
def _onboard(world):
    world.put("orders")
    world.put("users", path="/team/users")
    world.put("catalog", containerPort=3000, methods=["GET", "POST"])


def _offboard(world):
    _onboard(world)
    world.reconciler().run(ALL)
    world.stream_records()
    world.registry.delete("users")
    world.registry.delete("catalog")


def _move(world):
    _onboard(world)
    world.reconciler().run(ALL)
    world.stream_records()
    world.put("users", path="/people/users")
    world.put("orders", methods=["GET"], healthCheckPath="/health")


def _foreign(world):
    world.add_foreign_listener(10000)
    world.add_foreign_resource("/team/admin")
    world.add_foreign_ecs_entry("users")
    _onboard(world)


SCENARIOS = {"onboard": _onboard, "offboard": _offboard, "move": _move, "foreign": _foreign}


# Every k for onboarding; the other scenarios take every STRIDE-th k in CI (all of them with PORTICO_FAULTS_FULL=1).
STRIDE = 1 if os.environ.get("PORTICO_FAULTS_FULL") else 4


@pytest.mark.slow
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_crash_after_every_mutating_call_converges_on_the_next_sweep(world, portico_clients, injector, scenario):
    setup = SCENARIOS[scenario]
    inj = injector
    setup(world)
    deliver(world, world.reconciler(clients=portico_clients))
    total = len(inj.writes())
    assert total > 10
    stride = 1 if scenario == "onboard" else STRIDE
    for k in [*range(1, total + 1, stride), *([total] if (total - 1) % stride else [])]:
        world.fresh()
        setup(world)
        inj.clear()
        inj.crash_after(k)
        with pytest.raises(Crash):
            deliver(world, world.reconciler(clients=portico_clients))
        inj.clear()  # a new process: the next sweep
        if any(d["pk"].startswith("lock#") or d.get("holder") for d in world.state_items()):
            # The dead process still holds a lease (ECS, or a service's ledger): until it expires the service
            # waits, it does not fail.
            outcome = world.reconciler(clients=portico_clients).run(ALL)
            assert not [s for s in outcome.statuses.values() if s.status == "FAILED"], outcome.statuses
            assert world.audit() == []
        later = world.reconciler(clients=portico_clients, clock=lambda: time.time() + LEASE_TTL + 1)
        later.run(ALL)
        problems = world.audit(converged=True)
        assert problems == [], f"crash after mutating call {k} of {total}: {problems}"
        inj.reset_counts()
        later.run(ALL)
        writes = inj.writes()
        if scenario == "move":
            # Known gap (product stage settings): after a move cut short, the stage's method settings of the
            # old path are removed one sweep later.
            writes = [w for w in writes if w != ("apigateway", "UpdateStage")]
        assert writes == [], f"crash after mutating call {k}: second sweep wrote {writes}"
