"""A batch is settled as a whole: swaps, rotations and moves onto a path freed in the same batch converge in one
pass, every entry READY, each path integrated with its new owner's port after the pass's deployment; an entry
keeps listenerPort and invokeUrl while its routing is in place."""

from __future__ import annotations

from portico.reconcile import ALL
from portico.triggers.stream import handle
from portico_cli.local_aws.streampoll import fake_context

SERVICES = {"alpha": 8080, "beta": 8080, "gamma": 8080, "delta": 8080}


def routed_to(world) -> dict[str, int]:
    """API path -> the listener port its integrations name (one port per path, or the test fails)."""
    out = {}
    for path, r in world.resources().items():
        ports = {int(m["methodIntegration"]["uri"].split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
                 for m in (r.get("resourceMethods") or {}).values()
                 if (m.get("methodIntegration") or {}).get("connectionType") == "VPC_LINK"}
        if ports:
            assert len(ports) == 1, (path, ports)
            out[path] = ports.pop()
    return out


def onboard(world, paths: dict[str, str]) -> dict[str, int]:
    for service, path in paths.items():
        world.put(service, ecsService=service, path=path)
    world.reconciler().run(ALL)
    items = world.items()
    assert {s: i["status"] for s, i in items.items()} == dict.fromkeys(paths, "READY")
    return {s: int(i["listenerPort"]) for s, i in items.items()}


def settled(world, outcome, moved: dict[str, str], ports: dict[str, int]) -> None:
    items = world.items()
    assert {s: (i["status"], i["statusMessage"]) for s, i in items.items() if i["status"] != "READY"} == {}
    assert outcome.retry == {} and not outcome.plan.failed
    routes = routed_to(world)
    for service, path in moved.items():
        assert items[service]["invokeUrl"].endswith(path)
        assert routes[path] == ports[service] == int(items[service]["listenerPort"]), (service, path, routes)
        assert routes[f"{path}/{{proxy+}}"] == ports[service]
    assert world.audit(converged=True) == []
    assert world.reconciler().run(ALL).plan.steps == []  # converged: nothing left for the next pass


def test_two_services_swapping_paths_converge_in_one_pass(world):
    world.fresh(services=SERVICES)
    ports = onboard(world, {"alpha": "/a", "beta": "/b"})
    world.put("alpha", ecsService="alpha", path="/b")
    world.put("beta", ecsService="beta", path="/a")
    outcome = handle({"Records": world.stream_records()}, fake_context(), world.reconciler())
    assert outcome == {"batchItemFailures": []}
    settled(world, world.reconciler().run(ALL), {"alpha": "/b", "beta": "/a"}, ports)


def test_a_rotation_of_three_converges_in_one_pass(world):
    world.fresh(services=SERVICES)
    ports = onboard(world, {"alpha": "/team/a", "beta": "/team/b", "gamma": "/c"})
    world.put("alpha", ecsService="alpha", path="/team/b")
    world.put("beta", ecsService="beta", path="/c")
    world.put("gamma", ecsService="gamma", path="/team/a")
    outcome = world.reconciler().run(["alpha", "beta", "gamma"])
    items = world.items()
    assert {s: i["status"] for s, i in items.items()} == dict.fromkeys(ports, "READY"), outcome.statuses
    settled(world, outcome, {"alpha": "/team/b", "beta": "/c", "gamma": "/team/a"}, ports)
    below = {d["pk"]: sorted(d.get("below") or []) for d in world.state_items() if d["pk"].startswith("sub#")}
    assert below.get("sub#/team") == ["alpha", "gamma"]


def test_moving_onto_a_path_offboarded_in_the_same_batch_converges(world):
    world.fresh(services=SERVICES)
    ports = onboard(world, {"alpha": "/a", "beta": "/b"})
    world.registry.delete("alpha")
    world.put("beta", ecsService="beta", path="/a")
    world.put("gamma", ecsService="gamma", path="/b")  # a newcomer onto the path beta leaves
    outcome = world.reconciler().run(["alpha", "beta", "gamma"])
    assert outcome.removed == ["alpha"]
    ports["gamma"] = int(world.items()["gamma"]["listenerPort"])
    settled(world, outcome, {"beta": "/a", "gamma": "/b"}, ports)


def test_a_move_delivered_before_the_offboard_of_the_paths_owner_converges_at_once(world):
    """The stream delivers the move alone (the owner's delete comes in a later batch): the pass reads the
    owner's entry, finds it gone, and offboards it in the same pass."""
    world.fresh(services=SERVICES)
    ports = onboard(world, {"alpha": "/a", "beta": "/b"})
    world.registry.delete("alpha")
    world.put("beta", ecsService="beta", path="/a")
    outcome = world.reconciler().run(["beta"])
    assert outcome.removed == ["alpha"]
    settled(world, outcome, {"beta": "/a"}, ports)


def test_a_swap_blocked_by_an_invalid_half_keeps_the_old_routes_and_their_status_attributes(world):
    world.fresh(services=SERVICES)
    ports = onboard(world, {"alpha": "/a", "beta": "/b"})
    world.put("alpha", ecsService="alpha", path="/b")  # beta stays on /b: alpha cannot have it
    world.reconciler().run(["alpha"])
    item = world.items()["alpha"]
    assert item["status"] == "FAILED" and "owned by service 'beta'" in item["statusMessage"], item
    assert int(item["listenerPort"]) == ports["alpha"] and item["invokeUrl"].endswith("/a")  # still served
    assert routed_to(world)["/a"] == ports["alpha"]
