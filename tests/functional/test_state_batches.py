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
