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


def sweeps(world, times: list[float]) -> list[set[str]]:
    """The services each sweep reconciled, one sweep at each of `times` (the schedule's clock)."""
    return [set(world.reconciler(clock=lambda t=t: t).sweep().statuses) for t in times]


def test_three_sweeps_cover_every_service_once(world):
    world.reconciler().run(reconcile.ALL)  # all READY: a sweep takes its shard only (and the waiting, none here)
    shards = sweeps(world, [900.0 * k for k in range(4)])
    assert all(shards) and set().union(*shards[:3]) == set(NAMES)
    assert sum(len(s) for s in shards[:3]) == len(NAMES)  # disjoint
    assert shards[3] == shards[0]  # the fourth sweep takes the first one's shard again


@pytest.mark.parametrize("times", [
    [1800.0 * k + 7 for k in range(4)],  # rate(30 minutes): 2 periods of 900 s, so half the shards were skipped
    [3600.0 * (24 * (k // 2) + (9, 17)[k % 2]) for k in range(4)],  # cron(0 9,17 * * ? *): twice a day
], ids=["rate-30-minutes", "cron-twice-a-day"])
def test_every_shard_is_swept_within_shards_sweeps_whatever_the_schedule(moto_endpoint, monkeypatch, times):
    """An even shard count (8 services, 4 shards) under a schedule whose period is not 900 s: the sweeps take
    the shards by their number (the state table's counter), not by the clock, so 4 sweeps reach all 4."""
    monkeypatch.setattr(reconcile, "SHARD_SIZE", 2)
    names = [f"svc-{i:02d}" for i in range(8)]
    assert len({reconcile.shard_of(n, 4) for n in names}) == 4
    w = World(moto_endpoint, make_clients(moto_endpoint))
    w.fresh(services={n: 8080 for n in names})
    for name in names:
        w.put(name, auth="NONE")
    w.reconciler().run(reconcile.ALL)  # all READY: a sweep takes its shard only (and the waiting, none here)
    shards = sweeps(w, times)
    assert set().union(*shards) == set(names) and sum(len(s) for s in shards) == len(names)


def test_a_sweep_reads_ecs_only_for_its_shard_and_offboards_only_there(world):
    world.reconciler().run(reconcile.ALL)
    gone = next(n for n in NAMES if reconcile.shard_of(n, 3) == 0)  # the third sweep's shard (sweeps 1, 2, 3)
    world.registry.delete(gone)
    inj = Injector()
    world.reconciler(inj).sweep()  # another shard: the ledger of `gone` stays
    assert gone in world.state.snapshot().ledgers
    described = [op for _, op in inj.calls() if op == "DescribeServices"]
    assert len(described) == 1  # the shard's (at most 2) ECS services in one call
    assert [op for _, op in inj.calls() if op in ("UpdateItem", "PutItem", "TransactWriteItems")] == ["UpdateItem"]
    world.reconciler().sweep()
    assert gone in world.state.snapshot().ledgers
    world.reconciler().sweep()  # sweep 3 ≡ 0 (mod 3): its shard
    assert gone not in world.state.snapshot().ledgers
    assert f"/{gone}" not in world.resources()
