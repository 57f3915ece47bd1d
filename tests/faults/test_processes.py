"""Two and three reconciler processes at once against one emulator: the stream handler (`portico local stream
--once`, Lambda's event source mapping), the sweeper (`portico invoke SweeperFunction`) and a person's
`portico reconcile`, each a real process with its own clients, over 20+ services while entries are onboarded,
moved to other paths and offboarded.

After every round: no duplicate listener, target group, API resource or ECS attachment (the world's audit, plus
the checks below); no entry FAILED except the ones that are wrong on purpose; and every entry READY or rightly
FAILED after at most two more passes (the stream's redelivery of what was left to retry, then a sweep).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from portico.state import StateTable
from portico_cli.local_aws import account as local

ROOT = Path(__file__).resolve().parents[2]
SERVICES = 24  # ECS services; 20 routed at first, the rest onboarded later
CONFLICT = "dup-path"  # claims another entry's path: rightly FAILED, whatever the interleaving

COMMANDS = {
    "stream": ["local", "stream", "--once", "--json"],
    "sweeper": ["invoke", "SweeperFunction", "-e", str(ROOT / "events" / "schedule.json"), "--json"],
    "cli": ["reconcile", "--json"],
}


def run_together(world, cwd: Path, kinds: list[str]) -> dict[str, dict]:
    """Start one process per kind at the same moment; wait for all; return each one's JSON output."""
    env = {**os.environ, **local.CREDENTIALS, "AWS_DEFAULT_REGION": local.REGION, **world.settings.to_env(),
           "POWERTOOLS_LOG_LEVEL": "INFO"}
    procs = {kind: subprocess.Popen([sys.executable, "-m", "portico_cli", *COMMANDS[kind]], cwd=cwd, env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for kind in kinds}
    out = {}
    for kind, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=240)
        assert proc.returncode in (0, 1), f"{kind} crashed ({proc.returncode}):\n{stderr[-3000:]}"
        out[kind] = {**last_document(stdout, stderr), "log": stdout + stderr}
    return out


def last_document(stdout: str, stderr: str) -> dict:
    """The command's JSON result: the last JSON document on stdout (Powertools logs there too, a line each)."""
    lines = stdout.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        try:
            doc = json.loads("\n".join(lines[i:]))
        except ValueError:
            continue
        if "level" not in doc:
            return doc
    raise AssertionError(f"no JSON result in:\n{stdout[-2000:]}\n{stderr[-3000:]}")


def duplicates(world) -> list[str]:
    """What the audit does not count: one portico target group per service, each attached once."""
    problems = []
    tgs = world.target_groups()
    tags = world.tags(list(tgs))
    per_service = Counter(t.get("portico:service") for t in tags.values() if t.get("portico:stack") == "portico")
    problems += [f"{s} has {n} target groups" for s, n in per_service.items() if n > 1]
    for key, svc in world.ecs_services().items():
        arns = Counter(e["targetGroupArn"] for e in svc.get("loadBalancers") or [])
        problems += [f"{key} has {tgs[a]['TargetGroupName']} attached {n} times" for a, n in arns.items() if n > 1]
        owners = Counter(tags.get(a, {}).get("portico:service") for a in arns if a in tags)
        problems += [f"{key} has {n} target groups of {o}" for o, n in owners.items() if o and n > 1]
    paths = Counter(r["path"] for r in world.clients.apigateway.get_resources(
        restApiId=world.settings.rest_api_id, limit=500)["items"])
    problems += [f"API resource {p} exists {n} times" for p, n in paths.items() if n > 1]
    return problems


def unsettled(world) -> dict[str, str]:
    """Entries that are neither READY nor rightly FAILED."""
    out = {}
    for service, item in world.items().items():
        status, message = item.get("status"), item.get("statusMessage", "")
        rightly_failed = service == CONFLICT and status == "FAILED" and "owned by service" in message
        if status != "READY" and not rightly_failed:
            out[service] = f"{status}: {message}"
    return out


def race_failures(world) -> dict[str, str]:
    return {s: i.get("statusMessage", "") for s, i in world.items().items()
            if i.get("status") == "FAILED" and s != CONFLICT}


ROUNDS = [
    # (processes, what the users change before they start)
    (["stream", "sweeper", "cli"], "onboard 20"),
    (["stream", "cli"], "move 6, offboard 4, onboard 4, a path conflict"),
    (["stream", "sweeper"], "move 6 back, offboard 3, onboard 3"),
    (["stream", "sweeper", "cli"], "move 8, offboard 2, onboard 2"),
]


def change(world, round_no: int, live: dict[str, str]) -> None:
    """The users' writes of one round, on `live` (service -> path), as put-item and delete-item would do."""
    names = [f"svc{i:02d}" for i in range(SERVICES)]
    idle = [n for n in names if n not in live]
    routed = sorted(s for s in live if s != CONFLICT)
    moves, offs, ons = {0: (0, 0, 20), 1: (6, 4, 4), 2: (6, 3, 3), 3: (8, 2, 2)}[round_no]
    for n in idle[:ons]:
        live[n] = f"/{n}"
    for n in routed[:moves]:
        live[n] = f"/{n}" if live[n] != f"/{n}" else f"/moved/{n}"
    for n in routed[moves:moves + offs]:
        live.pop(n)
        world.registry.delete(n)
    for n in [*idle[:ons], *routed[:moves]]:
        world.put(n, ecsService=n, path=live[n])
    if round_no == 1:
        victim = routed[-1]
        world.put(CONFLICT, ecsService=idle[-1], path=live[victim])
        live[CONFLICT] = live[victim]


@pytest.mark.slow
def test_reconciler_processes_race(world, tmp_path):
    world.fresh(services={f"svc{i:02d}": 8080 for i in range(SERVICES)})
    live: dict[str, str] = {}
    report = []
    started = time.monotonic()
    for round_no, (kinds, what) in enumerate(ROUNDS):
        change(world, round_no, live)
        t0 = time.monotonic()
        outputs = run_together(world, tmp_path, kinds)
        took = time.monotonic() - t0
        assert world.audit() == [], f"round {round_no} ({what})"
        assert duplicates(world) == [], f"round {round_no} ({what})"
        assert race_failures(world) == {}, f"round {round_no} ({what}): FAILED by a race"
        races = 0
        for kind, out in outputs.items():
            assert '"step failed"' not in out["log"]  # a failing step says which, on what and why
            races += out["log"].count("lost a race")
            if kind == "cli":  # what a person sees: no service FAILED by the other processes' work
                assert {s["service"] for s in out["services"] if s["status"] == "FAILED"} <= {CONFLICT}, out
            if kind == "sweeper":
                assert "statuses" in out, {k: v for k, v in out.items() if k != "log"} | {"log": out["log"][-4000:]}
                assert out["statuses"].get("FAILED", 0) <= (CONFLICT in live), out["statuses"]
        passes = 0
        while unsettled(world) and passes < 2:  # the stream's redelivery, then a sweep
            passes += 1
            world.reconciler().run(sorted(unsettled(world)) if passes == 1 else None)
        assert unsettled(world) == {}, f"round {round_no} ({what}): not settled after {passes} passes"
        assert set(world.items()) == set(live)
        assert world.audit() == []
        report.append(f"round {round_no}: {'+'.join(kinds)} {took:.1f} s, {races} lost races re-planned, "
                      f"settle passes {passes}")
    world.reconciler().run()
    assert world.audit(converged=True) == []
    print("\n".join(report), f"\ntotal {time.monotonic() - started:.1f} s")


def portico_target_groups(world) -> int:
    tgs = world.target_groups()
    return sum(t.get("portico:stack") == "portico" for t in world.tags(list(tgs)).values())


@pytest.mark.slow
def test_a_killed_pass_costs_about_a_minute(world, tmp_path):
    """`portico reconcile` SIGKILLed mid-onboarding of 20 services (a Lambda timeout or out-of-memory kill is the
    same crash): its claims run out within StateTable.CLAIM_SECONDS, every entry has a status after each later
    pass, and passes repeated as the stream and a person would bring all 20 to READY within 3 minutes, with no
    duplicate or orphaned object."""
    names = [f"svc{i:02d}" for i in range(20)]
    world.fresh(services=dict.fromkeys(names, 8080))
    for n in names:
        world.put(n, ecsService=n)
    env = {**os.environ, **local.CREDENTIALS, "AWS_DEFAULT_REGION": local.REGION, **world.settings.to_env()}
    proc = subprocess.Popen([sys.executable, "-m", "portico_cli", *COMMANDS["cli"]], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while portico_target_groups(world) < 12:
        assert proc.poll() is None and time.monotonic() < deadline, "the pass ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed, now = time.monotonic(), time.time()
    held = [int(d["heldUntil"]) for d in world.state_items() if d.get("holder")]
    assert held, "the killed pass held no claim"
    assert max(held) <= now + StateTable.CLAIM_SECONDS + 1  # a dead pass's claims run out within a minute
    report = []
    for kinds in (["stream"], ["cli"], ["cli"], ["cli"]):  # the stream's delivery, then a person repeating
        t0 = time.monotonic()
        out = run_together(world, tmp_path, kinds)[kinds[0]]
        items = world.items()
        assert not [s for s, i in items.items() if not i.get("status")], "an entry was left without a status"
        assert race_failures(world) == {}
        report.append(f"{kinds[0]} {time.monotonic() - t0:.1f} s: "
                      f"{Counter(i['status'] for i in items.values())}, retry {len(out.get('retry') or [])}")
        if not unsettled(world):
            break
    took = time.monotonic() - killed
    print("\n".join(report), f"\nall READY {took:.1f} s after the kill")
    assert unsettled(world) == {}
    assert took < 180
    assert world.audit() == [] and duplicates(world) == []
    world.reconciler().run()
    assert world.audit(converged=True) == []
