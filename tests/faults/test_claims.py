"""A pass's claims on its services are leases: renewed while it works, run out soon after it dies; an entry held
by another pass is told so (PENDING, naming the holder) without hiding the holder's own result."""

from __future__ import annotations

import time

from portico.registry import READY, Status
from portico.state import StateTable

DEAD = "deadbeef" * 4  # a pass that claimed a service and died


def test_a_held_entry_is_pending_naming_its_holder_and_the_holders_result_still_lands(world):
    world.put("orders", ecsService="orders")
    world.state.claim("orders", DEAD, None)
    before = world.items()["orders"]
    outcome = world.reconciler().run(["orders"])
    item = world.items()["orders"]
    assert "orders" in outcome.retry
    assert item["status"] == "PENDING"
    assert "held by reconcile deadbeef" in item["statusMessage"] and "UTC" in item["statusMessage"]
    assert "passStartedAt" not in item  # the holder (started earlier) may still write its result
    holder_started = time.time() - 5
    assert world.registry.write_status(before, Status(READY, "routed by the holder"), started=holder_started)
    assert world.items()["orders"]["status"] == READY


def test_a_dead_pass_holds_its_services_for_a_minute_at_most(world):
    world.put("orders", ecsService="orders")
    world.state.claim("orders", DEAD, None)
    assert StateTable.CLAIM_SECONDS <= 60
    later = world.reconciler(clock=lambda: time.time() + StateTable.CLAIM_SECONDS + 1)
    assert later.run(["orders"]).statuses["orders"].status == READY


def test_a_held_entry_that_already_has_its_result_keeps_it(world):
    world.put("orders", ecsService="orders")
    world.reconciler().run(["orders"])
    world.state.claim("orders", DEAD, world.state.snapshot().ledgers["orders"].version)
    world.reconciler().run(["orders"])  # a sweep that finds it held: READY on this spec stays READY
    item = world.items()["orders"]
    assert (item["status"], int(item["listenerPort"])) == (READY, 10000)


def test_a_live_pass_renews_its_claims_however_long_it_runs(world, injector, portico_clients):
    """Each API call takes 5 s of the pass's clock: onboarding three services lasts several claim terms, and the
    claims never lapse (no other pass could take the services in the middle)."""
    for s, port in (("orders", 8080), ("users", 8080), ("catalog", 3000)):
        world.put(s, ecsService=s, containerPort=port)
    now = [time.time()]
    lapsed: list[str] = []

    def tick(service: str, operation: str) -> None:
        now[0] += 5
        if service == "elbv2" and operation.startswith("Create"):
            for d in world.state_items():
                if d["pk"].startswith("svc#") and d.get("holder") and int(d["heldUntil"]) < now[0]:
                    lapsed.append(f"{d['service']} at {operation}")

    injector.on_call = tick
    started = now[0]
    outcome = world.reconciler(clients=portico_clients, clock=lambda: now[0]).run()
    assert now[0] - started > 3 * StateTable.CLAIM_SECONDS  # several terms: renewed, never lapsed
    assert lapsed == []
    assert {s.status for s in outcome.statuses.values()} == {READY}
    assert not [d for d in world.state_items() if d.get("holder")]  # let go at the end


def test_a_pass_out_of_time_takes_no_new_work_and_leaves_its_entries_pending(world, injector, portico_clients):
    """A Lambda near its timeout: the steps after the deadline are not started, their services are PENDING (the
    trigger delivers them again) and their claims are let go at once, not left to run out."""
    for s in ("orders", "users"):
        world.put(s, ecsService=s)
    now = [time.time()]

    def tick(service: str, operation: str) -> None:
        now[0] += 5

    injector.on_call = tick
    short = world.reconciler(clients=portico_clients, clock=lambda: now[0])
    outcome = short.run(deadline=now[0] + 60)  # a dozen calls
    assert set(outcome.retry) == {"orders", "users"}
    assert {i["status"] for i in world.items().values()} == {"PENDING"}
    assert "ran out of time" in world.items()["orders"]["statusMessage"]
    assert not [d for d in world.state_items() if d.get("holder")]
    injector.on_call = None
    assert {s.status for s in world.reconciler().run().statuses.values()} == {READY}
    assert world.audit(converged=True) == []
