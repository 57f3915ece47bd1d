"""Sweeps in shards: each sweep reconciles one shard of the services in turn, so its time and ECS reads stay
bounded, and consecutive sweeps cover every service (the rotating audit)."""

from __future__ import annotations

import pytest

from portico import reconcile
from tests.faults.injector import Injector
from tests.faults.world import World, make_clients

NAMES = [f"svc-{i:02d}" for i in range(6)]


@pytest.fixture
def world(moto_endpoint, monkeypatch):
    monkeypatch.setattr(reconcile, "SHARD_SIZE", 2)  # 6 services: 3 shards
    w = World(moto_endpoint, make_clients(moto_endpoint))
    w.fresh(services={n: 8080 for n in NAMES})
    for name in NAMES:
        w.put(name, auth="NONE")
    return w


def sweep_at(world, turn: int):
    period = world.settings.sweep_seconds
    return world.reconciler(clock=lambda: turn * period + 3).sweep()  # a few seconds late: the same turn


def test_three_sweeps_cover_every_service_once(world):
    shards = [set(sweep_at(world, turn).statuses) for turn in range(3)]
    assert all(shards) and set().union(*shards) == set(NAMES)
    assert sum(len(s) for s in shards) == len(NAMES)  # disjoint
    assert {v["status"] for v in world.items().values()} == {"READY"}
    expected = {n for n in NAMES if reconcile.shard_of(n, 3) == 1}
    assert shards[1] == expected and set(sweep_at(world, 4).statuses) == expected  # turn 4 ≡ 1 (mod 3)


def test_a_sweep_reads_ecs_only_for_its_shard_and_offboards_only_there(world):
    world.reconciler().run(reconcile.ALL)
    gone = next(n for n in NAMES if reconcile.shard_of(n, 3) == 0)
    world.registry.delete(gone)
    inj = Injector()
    period = world.settings.sweep_seconds
    world.reconciler(inj, clock=lambda: 2 * period).sweep()  # another shard: the ledger of `gone` stays
    assert gone in world.state.snapshot().ledgers
    described = [op for _, op in inj.calls() if op == "DescribeServices"]
    assert len(described) == 1  # the shard's (at most 2) ECS services in one call
    world.reconciler(clock=lambda: 3 * period).sweep()  # turn 3 ≡ 0: its shard
    assert gone not in world.state.snapshot().ledgers
    assert f"/{gone}" not in world.resources()
