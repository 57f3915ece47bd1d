"""portico's state table, batched: several reservations in one transaction (all or none, with the ledger's
intent), ECS leases in one transaction, ledgers and the task-definition cache 25 per BatchWriteItem."""

from __future__ import annotations

import pytest

from portico.state import Reservation, StateTable
from tests.metering import CallMeter

LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/nlb/1"


@pytest.fixture
def table(clients, stack):
    return StateTable(clients.dynamodb, stack.state_table)


def reservation(service: str, port: int, **intent) -> Reservation:
    return Reservation(service, LB, port, f"/{service}", **intent)


def test_reservations_of_many_services_in_one_transaction_with_their_intent(table, clients):
    meter = CallMeter([clients.dynamodb])
    assert table.reserve_many([reservation(f"s{i}", 10000 + i, target_groups={f"tg-s{i}": ""}, ecs=f"demo/s{i}")
                               for i in range(20)])
    assert meter.calls[("dynamodb", "TransactWriteItems")] == 1
    snap = table.snapshot()
    assert snap.ports[(LB, 10007)] == "s7" and snap.paths["/s7"] == "s7"
    led = snap.ledgers["s7"]
    assert (led.path, led.port, led.target_groups, led.ecs) == ("/s7", 10007, {"tg-s7": ""}, "demo/s7")


def test_one_taken_key_cancels_the_whole_batch(table):
    table.reserve(Reservation("other", LB, 10001, "/other"))
    assert not table.reserve_many([reservation("a", 10000), reservation("b", 10001)])  # b's port is taken
    snap = table.snapshot()
    assert "a" not in snap.ledgers and (LB, 10000) not in snap.ports  # nothing of the batch was written
    assert snap.ports[(LB, 10001)] == "other"


def test_leases_all_or_none_and_released_together(table):
    assert table.acquire("ecs#demo/b", "someone-else")
    assert not table.acquire_many(["ecs#demo/a", "ecs#demo/b"], "me")
    assert table.acquire("ecs#demo/a", "third")  # the cancelled batch took nothing
    table.release_lock("ecs#demo/a", "third")
    table.release_lock("ecs#demo/b", "someone-else")
    assert table.acquire_many(["ecs#demo/a", "ecs#demo/b"], "me")
    assert not table.acquire("ecs#demo/a", "third")
    table.release_many(["ecs#demo/a", "ecs#demo/b"], "me")
    assert table.acquire("ecs#demo/a", "third") and table.acquire("ecs#demo/b", "third")


def test_task_definitions_25_per_batch_write(table, clients):
    # Ledgers are saved one by one, each conditional on the pass's claim; the task-definition cache is batched.
    meter = CallMeter([clients.dynamodb])
    table.cache_task_definitions({f"arn:td/{i}": {"networkMode": "awsvpc", "containers": {"app": [8080]}}
                                  for i in range(30)})
    assert meter.calls[("dynamodb", "BatchWriteItem")] == 2 and meter.calls[("dynamodb", "PutItem")] == 0
    snap = table.snapshot()
    assert snap.task_definitions["arn:td/3"]["containers"] == {"app": [8080]}


def test_claims_100_to_a_transaction_renewed_and_let_go_the_same_way(table, clients):
    """DynamoDB's limit is 100 actions per TransactWriteItems: 150 claims are 2 transactions to take, 2 to renew,
    2 to let go, none one by one."""
    meter = CallMeter([clients.dynamodb])
    wanted = {f"s{i:03}": None for i in range(150)}
    assert table.claim_many(wanted, "me") == {}
    assert table.renew(list(wanted), "me")[1] == []
    table.unclaim_many(list(table.snapshot().ledgers.values()), "me")
    assert meter.calls[("dynamodb", "TransactWriteItems")] == 6
    assert meter.calls[("dynamodb", "UpdateItem")] == meter.calls[("dynamodb", "PutItem")] == 0
    assert not [led for led in table.snapshot().ledgers.values() if led.holder]


def test_a_cancelled_claim_transaction_names_the_lost_claims_from_its_reasons(table, clients):
    """One service held by a live pass, one changed since the plan: the transaction's cancellation reasons (with the
    ledger as it stands) say which and why, and the others are taken in one more transaction, not one by one."""
    table.claim("held", "other-pass", None)
    wanted = {f"s{i}": None for i in range(40)} | {"held": None, "changed": 3}  # planned on a version now gone
    meter = CallMeter([clients.dynamodb])
    lost = table.claim_many(wanted, "me")
    assert {s: c.kind.name for s, c in lost.items()} == {"held": "BUSY", "changed": "STALE"}
    assert "reconcile other-pa" in lost["held"].owner
    assert meter.calls[("dynamodb", "TransactWriteItems")] == 2 and meter.calls[("dynamodb", "UpdateItem")] == 0
    ledgers = table.snapshot().ledgers
    assert {s for s, led in ledgers.items() if led.holder == "me"} == {f"s{i}" for i in range(40)}
    assert ledgers["held"].holder == "other-pass"
