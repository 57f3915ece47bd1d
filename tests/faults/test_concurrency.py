"""Concurrent reconciles, interleaved deterministically (moto is not thread-safe, so never two calls at once).

Each reconcile runs in its own thread, but a baton lets exactly one of them run at any moment; the other
waits. At every allocation, ledger, lease and ECS step (the injector's `on_call` hook before each such
API call) and at every lease back-off sleep, a schedule decides whether to hand the baton over. Schedules:
"A runs up to its i-th step, then B runs to the end, then A finishes" for every i, plus seeded random
switching. After each run: no lost update of an ECS service's loadBalancers, no duplicate port, no
duplicate path, and the audit is clean.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

import pytest

from portico.state import Conflict, Reservation, StateTable
from portico.state.reservations import RETIRE_SECONDS

# Reading the state (allocation input), reserving, leases and ledgers, the ECS read-modify-write, reading the
# API, creates and deletes.
POINTS = {"Scan", "TransactWriteItems", "PutItem", "DescribeServices", "UpdateService", "CreateListener",
          "CreateResource", "GetResources", "DeleteResource"}


class Baton:
    """Threads that take turns: only the holder of the baton runs; `point` may hand it to the other."""

    def __init__(self, decide: Callable[[str, int], bool]):
        self.decide = decide
        self.cv = threading.Condition()
        self.turn: str | None = None
        self.alive: list[str] = []
        self.points: dict[str, int] = {}

    def run(self, tasks: dict[str, Callable[[], object]]) -> dict[str, object]:
        results: dict[str, object] = {}

        def body(name: str, fn: Callable[[], object]) -> None:
            with self.cv:
                self.cv.wait_for(lambda: self.turn == name)
            try:
                results[name] = fn()
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                results[name] = exc
            finally:
                with self.cv:
                    self.alive.remove(name)
                    self.turn = self.alive[0] if self.alive else None
                    self.cv.notify_all()

        self.alive = list(tasks)
        self.points = dict.fromkeys(tasks, 0)
        self.turn = self.alive[0]
        threads = [threading.Thread(target=body, args=item, name=item[0], daemon=True) for item in tasks.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
            assert not t.is_alive(), "an interleaved reconcile did not finish"
        return results

    def point(self, force: bool = False) -> None:
        me = threading.current_thread().name
        with self.cv:
            if me not in self.alive:
                return
            others = [n for n in self.alive if n != me]
            self.points[me] += 1
            if not others or not (force or self.decide(me, self.points[me])):
                return
            self.turn = others[0]
            self.cv.notify_all()
            self.cv.wait_for(lambda: self.turn == me)


def schedules(steps: int, seeds: int = 3) -> list[tuple[str, Callable[[str, int], bool]]]:
    out: list[tuple[str, Callable[[str, int], bool]]] = [
        (f"A-until-{i}", lambda me, n, i=i: me == "A" and n == i) for i in range(1, steps + 1)]
    for seed in range(seeds):
        rng = random.Random(seed)
        out.append((f"random-{seed}", lambda me, n, rng=rng: rng.random() < 0.5))
    return out


def interleave(world, clients, injector, tasks: dict[str, list[str]], decide) -> dict[str, object]:
    baton = Baton(decide)
    injector.on_call = lambda service, op: baton.point() if op in POINTS else None
    try:
        recs = {name: world.reconciler(clients=clients, sleep=lambda s: baton.point(force=True))
                for name in tasks}
        return baton.run({name: (lambda name=name, keys=keys: recs[name].run(keys)) for name, keys in tasks.items()})
    finally:
        injector.on_call = None


def check(world, results) -> None:
    for name, result in results.items():
        assert not isinstance(result, BaseException), f"{name}: {result!r}"
    assert world.audit() == []
    ports = [int(d["port"]) for d in world.state_items() if d["pk"].startswith("svc#") and d.get("port")]
    assert len(ports) == len(set(ports))


def steps_of(world, clients, injector, tasks) -> int:
    """How many interleaving points reconcile A passes through when it runs alone."""
    count = [0]
    injector.on_call = lambda service, op: count.__setitem__(0, count[0] + 1) if op in POINTS else None
    try:
        world.reconciler(clients=clients).run(tasks["A"], dry_run=False)
    finally:
        injector.on_call = None
    return count[0]


def shared_ecs_world(world):
    world.fresh(services={})
    ecs = world.clients.ecs
    ecs.create_cluster(clusterName="demo")
    ecs.register_task_definition(family="shared", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                 cpu="256", memory="512", containerDefinitions=[{
                                     "name": "app", "image": "example/shared",
                                     "portMappings": [{"containerPort": 8080}, {"containerPort": 9090}]}])
    ecs.create_service(cluster="demo", serviceName="shared", taskDefinition="shared", desiredCount=1,
                       launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {
                           "subnets": world.subnets, "securityGroups": [world.security_group]}})
    world.add_foreign_ecs_entry("shared")
    world.put("web", ecsService="shared", containerPort=8080)
    world.put("admin", ecsService="shared", containerPort=9090)


def shared_parent_world(world):
    """`leaver` (/team/leaver) is offboarded while `joiner` (/team/joiner) onboards: /team is an intermediate
    resource that the leaver's pass deletes (with everything below it) unless it sees the joiner in time."""
    world.put("leaver", path="/team/leaver", ecsService="orders")
    assert world.reconciler().run(["leaver"]).statuses["leaver"].status == "READY"
    world.registry.delete("leaver")
    world.put("joiner", path="/team/joiner", ecsService="users")


SCENARIOS = {
    # Two services on one ECS service: UpdateService replaces the whole list, so a lost update is possible.
    "same-ecs-service": (shared_ecs_world, {"A": ["web"], "B": ["admin"]}),
    # Two new services at once: both see port 10000 free.
    "same-free-port": (lambda w: (w.put("orders"), w.put("users")), {"A": ["orders"], "B": ["users"]}),
    # Two services claim one path, and one claims a path under the other's.
    "same-path": (lambda w: (w.put("orders", path="/shop"), w.put("users", path="/shop")),
                  {"A": ["orders"], "B": ["users"]}),
    "nested-path": (lambda w: (w.put("orders", path="/team"), w.put("users", path="/team/users")),
                    {"A": ["orders"], "B": ["users"]}),
    # One service leaves a shared parent while another arrives under it.
    "shared-parent": (shared_parent_world, {"A": ["leaver"], "B": ["joiner"]}),
}


@pytest.mark.slow
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_interleaved_reconciles(world, portico_clients, injector, scenario):
    setup, tasks = SCENARIOS[scenario]
    setup(world)
    steps = steps_of(world, portico_clients, injector, tasks)
    assert steps > 5
    for label, decide in schedules(steps):
        world.fresh(services=None)
        setup(world)
        results = interleave(world, portico_clients, injector, tasks, decide)
        try:
            check(world, results)
            items = world.items()
            if scenario == "same-ecs-service":
                svc = world.ecs_services()["demo/shared"]
                ports = sorted(lb["containerPort"] for lb in svc["loadBalancers"])
                assert ports == [8080, 8080, 9090], "an ECS loadBalancers update was lost"  # foreign + web + admin
                assert {v["status"] for v in items.values()} == {"READY"}
            elif scenario == "shared-parent":
                assert {k: v["status"] for k, v in items.items()} == {"joiner": "READY"}
                api = world.resources()
                assert {"/team", "/team/joiner", "/team/joiner/{proxy+}"} <= set(api), sorted(api)
                assert "/team/leaver" not in api, sorted(api)
                assert world.audit(converged=True) == []
            elif scenario == "same-free-port":
                assert {v["status"] for v in items.values()} == {"READY"}
                assert items["orders"]["listenerPort"] != items["users"]["listenerPort"]
            else:
                statuses = sorted(v["status"] for v in items.values())
                assert statuses == ["FAILED", "READY"], {k: (v["status"], v["statusMessage"]) for k, v in items.items()}
                loser = next(v for v in items.values() if v["status"] == "FAILED")
                # The loser read the API after the winner's first resources: then it is refused on that.
                assert "owned by service" in loser["statusMessage"] or \
                    "already exists on the REST API" in loser["statusMessage"], loser
        except AssertionError as exc:
            raise AssertionError(f"schedule {label}: {exc}") from exc


def test_reserve_refuses_a_parent_of_another_services_route(world):
    """The reverse of the ancestor check, atomic in the same transaction: /team/users is taken, so /team is not."""
    state, lb = world.state, world.settings.load_balancer_arns[0]
    state.reserve(Reservation("users", lb, 10001, "/team/users", ("/team",)))
    with pytest.raises(Conflict) as err:
        state.reserve(Reservation("orders", lb, 10000, "/team"))
    assert err.value.owner == "users" and err.value.kind == "path"
    state.reserve(Reservation("users", lb, 10001, "/team/users", ("/team",)))  # idempotent for the owner
    state.reserve(Reservation("admin", lb, 10002, "/team/admin", ("/team",)))  # a sibling is fine
    state.release("users", lb, 10001, "/team/users")
    with pytest.raises(Conflict):
        state.reserve(Reservation("orders", lb, 10000, "/team"))  # still the parent of /team/admin
    state.release("admin", lb, 10002, "/team/admin")
    state.reserve(Reservation("orders", lb, 10000, "/team"))  # nothing below it any more


def test_a_lost_reservation_names_what_was_lost_and_who_holds_it(world):
    """AWS lists one cancellation reason per item of the transaction, in order: the conflict names the ancestor
    (or the port) another service holds, not its neighbour in the list."""
    state, lb = world.state, world.settings.load_balancer_arns[0]
    state.reserve(Reservation("team", lb, 10001, "/team"))
    with pytest.raises(Conflict) as err:
        state.reserve(Reservation("orders", lb, 10002, "/team/a/orders", ("/team", "/team/a")))
    assert (err.value.kind, err.value.key, err.value.owner) == ("path", "path /team", "team")
    with pytest.raises(Conflict) as err:
        state.reserve(Reservation("users", lb, 10001, "/users"))
    assert (err.value.kind, err.value.owner) == ("port", "team") and err.value.key.startswith("port 10001 on ")



def test_no_reservation_below_a_parent_being_deleted_and_no_delete_above_a_new_reservation(world):
    """The two halves of `retire`, each atomic on the emulator's DynamoDB: a parent is marked retiring only while
    no service is routed below it (the leaving ones aside), and nothing reserves below it while it is marked."""
    state, lb = world.state, world.settings.load_balancer_arns[0]
    state.put_intermediate("/team", "r1")
    state.reserve(Reservation("leaver", lb, 10001, "/team/leaver", ("/team",)))
    assert not state.retire("/team", [])  # leaver is routed below it
    assert state.retire("/team", ["leaver"])
    with pytest.raises(Conflict) as err:
        state.reserve(Reservation("joiner", lb, 10002, "/team/joiner", ("/team",)))
    assert (err.value.kind, err.value.key) == ("retiring", "API resource /team")
    state.unretire("/team")  # the delete did not happen: reservations pass again
    state.reserve(Reservation("joiner", lb, 10002, "/team/joiner", ("/team",)))
    assert not state.retire("/team", ["leaver"])  # the joiner is below it now
    # One another pass deleted already is not marked (an item without its resource id is never written).
    assert not state.retire("/gone", []) and not [d for d in world.state_items() if d["pk"] == "res#/gone"]


def test_a_crashed_passs_retiring_mark_expires(world):
    now = [1_000_000.0]
    state = StateTable(world.clients.dynamodb, world.settings.state_table, clock=lambda: now[0])
    lb = world.settings.load_balancer_arns[0]
    state.put_intermediate("/team", "r1")
    assert state.retire("/team", [])
    with pytest.raises(Conflict):
        state.reserve(Reservation("joiner", lb, 10002, "/team/joiner", ("/team",)))
    now[0] += RETIRE_SECONDS + 1
    state.reserve(Reservation("joiner", lb, 10002, "/team/joiner", ("/team",)))
