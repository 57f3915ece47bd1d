"""The `portico` CLI as a subprocess against the test stack: exit codes, one-line errors, JSON shapes
(docs/cli.md), help text, progress only on a terminal, and handlers run in-process by `portico invoke`."""

from __future__ import annotations

import json
import os
import pty
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
import typer

from portico.registry import Registry
from portico_cli.app import app
from portico_cli.local_aws.demo import create_in_local_network
from portico_cli.local_aws.server import free_port
from tests.support import EVENTS, stream_event

ORDERS = ("onboard", "orders", "--cluster", "demo", "--container-port", "8080", "--path", "/orders", "--auth", "NONE")
SHADOW = ("onboard", "shadow", "--cluster", "demo", "--ecs-service", "users", "--container-port", "8080",
          "--path", "/orders/v2", "--auth", "NONE")


def one_line(err: str) -> str:
    """stderr holds exactly one line, the error (no traceback)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def error_doc(out: str, code: int, kind: str) -> dict:
    doc = json.loads(out)["error"]
    assert doc["exitCode"] == code and doc["kind"] == kind and doc["message"] and doc["fix"], doc
    return doc


def test_onboard_plan_reconcile_ls_offboard(cli, clients, stack):
    code, out, err = cli(*ORDERS, "--json")
    assert code == 0 and err == ""
    assert json.loads(out) == {"service": "orders", "table": stack.registry_table, "status": "PENDING", "entry": {
        "service": "orders", "cluster": "demo", "containerPort": 8080, "path": "/orders", "auth": "NONE"}}
    item = Registry(clients.dynamodb, stack.registry_table).get("orders")
    assert item["status"] == "PENDING" and item["containerPort"] == 8080
    code, out, _ = cli("plan", "--json")
    steps = json.loads(out)["steps"]
    assert code == 0 and {s["action"] for s in steps} >= {"reserve", "create_listener", "attach_ecs", "deploy"}
    assert all("service" in s for s in steps)

    code, out, err = cli("reconcile", "--json")
    assert code == 0 and err == ""  # piped: no progress bar, nothing extra
    result = json.loads(out)
    assert set(result) == {"steps", "statuses", "services", "removed", "retry", "deployment", "errors"}
    assert result["statuses"] == {"READY": 1} and result["deployment"] and result["steps"] == len(steps)
    (svc,) = result["services"]
    assert svc["service"] == "orders" and svc["status"] == "READY" and svc["listenerPort"] == 10000
    assert svc["invokeUrl"].endswith("/dev/orders")

    code, out, _ = cli("ls", "--json")
    (row,) = json.loads(out)
    assert set(row) == {"service", "path", "port", "targetGroup", "ecsService", "status", "message", "invokeUrl",
                        "health"}
    assert row["status"] == "READY" and row["port"] == 10000 and row["invokeUrl"].endswith("/dev/orders")
    (row,) = json.loads(cli("ls", "--health", "--json")[1])
    assert row["health"] == "targets: none registered"  # read from the target group: no task registered
    assert json.loads(cli("plan", "--json")[1]) == {"steps": [], "failed": []}

    code, out, _ = cli("offboard", "orders", "--json")
    assert code == 0 and json.loads(out) == {"service": "orders", "table": stack.registry_table, "deleted": True}
    code, out, _ = cli("reconcile")
    assert code == 0 and out.startswith("reconciled 0 service(s): no entries;") and "removed orders" in out
    assert json.loads(cli("ls", "--json")[1]) == []

    code, out, err = cli("offboard", "orders", "--json")
    assert code == 4 and "SERVICE: no entry for 'orders'" in one_line(err)
    error_doc(out, 4, "refused")


def test_reconcile_prints_a_summary_and_exits_1_when_an_entry_fails(cli):
    assert cli(*ORDERS)[0] == 0
    assert cli(*SHADOW)[0] == 0  # not reconciled yet: /orders holds no reservation, the reconcile decides
    code, out, err = cli("reconcile")
    assert code == 1 and err == ""
    assert out.splitlines()[0].startswith("reconciled 2 service(s): 1 FAILED, 1 READY;")
    assert "{" not in out  # a summary, not a dict repr
    assert "shadow" in out and "path: /orders/v2 overlaps /orders, which is owned by service 'orders'" in out


@pytest.mark.parametrize(("args", "message", "option"), [
    (("--container-port", "0"), "containerPort: must be a whole number from 1 to 65535, got 0", "--container-port"),
    (("--path", "/a/../b"), "path: must not contain '.' or '..' segments", "--path"),
    (("--method", "FETCH"), "methods: unknown method 'FETCH'", "--method"),
    (("--ecs-service", "ghost"), "ecsService: ECS service 'ghost' was not found in cluster 'demo'", "--ecs-service"),
    (("--container-port", "9999"), "containerPort: no container in task definition orders:1 maps port 9999",
     "--container-port"),
    (("--healthy-threshold-count", "1"), "healthyThresholdCount: must be a whole number from 2 to 10, got 1",
     "--healthy-threshold-count"),
    (("--health-check-timeout-seconds", "5"), "healthCheckTimeoutSeconds: the health check's timeout (5 s) must be "
     "less than its interval (5 s)", "--health-check-timeout-seconds"),
])
def test_onboard_refuses_before_writing(cli, clients, stack, args, message, option):
    base = dict(zip(ORDERS[2::2], ORDERS[3::2], strict=True))
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    code, out, err = cli("onboard", "orders", *[x for kv in base.items() for x in kv])
    line = one_line(err)
    assert code == 4 and out == "" and message in line and f"change {option} and run `portico onboard` again" in line
    assert Registry(clients.dynamodb, stack.registry_table).get("orders") is None


def test_onboard_refuses_a_path_reserved_by_a_routed_service(cli, clients, stack):
    assert cli(*ORDERS)[0] == 0 and cli("reconcile")[0] == 0
    code, out, err = cli(*SHADOW, "--json")
    assert code == 4 and "path: /orders/v2 overlaps /orders, which is owned by service 'orders'" in one_line(err)
    assert "--path" in error_doc(out, 4, "refused")["fix"]
    assert Registry(clients.dynamodb, stack.registry_table).get("shadow") is None


def test_usage_errors_exit_2(cli):
    assert cli("onboard", "orders", "--cluster", "demo")[0] == 2  # missing options
    code, _, err = cli("ls", "--no-such-flag")
    assert code == 2 and "No such option" in err
    assert cli("bogus")[0] == 2


def bare_env(**extra) -> dict[str, str]:
    """The environment of a shell that has not configured portico (no settings, region or AWS config)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTICO_", "AWS_"))}
    return {**env, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull, **extra}


def portico(*args, env, cwd):
    done = subprocess.run([sys.executable, "-m", "portico_cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=60)
    return done.returncode, done.stdout, done.stderr


def test_not_configured_exits_3_before_any_client_is_built(tmp_path, stack):
    code, out, err = portico("ls", env=bare_env(), cwd=tmp_path)
    line = one_line(err)
    assert code == 3 and out == ""
    assert "portico is not configured: set PORTICO_REST_API_ID" in line and "portico local up" in line
    code, out, _ = portico("ls", "--json", env=bare_env(), cwd=tmp_path)
    assert code == 3 and "PORTICO_REST_API_ID" in error_doc(out, 3, "not-configured")["message"]
    # Settings but no region: "not configured", not botocore's NoRegionError.
    settings = {k: v for k, v in stack.to_env().items() if k != "AWS_REGION"}
    code, _, err = portico("ls", env=bare_env(**settings), cwd=tmp_path)
    assert code == 3 and "no AWS region is set" in one_line(err) and "AWS_REGION" in err


def test_a_local_aws_that_is_down_or_a_wrong_table_exits_3_with_the_fix(cli, tmp_path, stack):
    env = {**os.environ, **stack.to_env(), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    code, _, err = portico("ls", env=env, cwd=tmp_path)
    assert code == 3 and "is not running" in one_line(err) and "portico local up" in err
    env = {**os.environ, **stack.to_env(), "PORTICO_REGISTRY_TABLE": "nope"}
    code, _, err = portico("ls", env=env, cwd=tmp_path)
    assert code == 3 and "ResourceNotFoundException" in one_line(err) and "PORTICO_REGISTRY_TABLE=nope" in err
    code, _, err = portico("--debug", "ls", env=env, cwd=tmp_path)
    assert code == 3 and "Traceback" in err and err.strip().splitlines()[-1].startswith("error: Scan:")


def test_only_the_local_commands_load_the_emulator_and_the_data_plane():
    """Every other command starts without moto, uvicorn, httpx or the local stack (~0.6 s of imports); a `local`
    command loads them in its group's callback."""
    probe = ("import sys; from portico_cli.app import app; heavy = lambda: sorted(m for m in sys.modules if "
             "m.split('.')[0] in ('moto', 'uvicorn', 'httpx') or m.startswith(('portico_cli.local_aws.stack', "
             "'portico_cli.local_aws.dataplane'))); print(heavy()); from portico_cli.commands import local; "
             "local._needs_local_extra(); print(len(heavy()) > 0, local.server is not None)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "True True"]


def test_version_and_help_text(cli):
    code, out, _ = cli("--version")
    assert code == 0 and out.strip() == "portico 0.1.0"
    code, out, _ = cli("onboard", "--help")
    assert code == 0 and "^[a-z][a-z0-9-]{1,27}$" in out and "[a-z0-9._-]{1,64}" in out
    assert "<bool>" not in out and "--json  " in out and "Print one JSON document" in out
    code, out, _ = cli("doctor", "--help")
    assert "<bool>" not in out and "--probe  " in out


def leaf_commands(group, path=()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from leaf_commands(cmd, (*path, name))
        else:
            yield (*path, name), cmd


def test_every_command_has_json():
    commands = dict(leaf_commands(typer.main.get_command(app)))
    assert {("reconcile",), ("onboard",), ("offboard",), ("doctor",), ("promote",), ("rollback",),
            ("keys", "create"), ("keys", "revoke"), ("local", "up"), ("invoke",)} <= set(commands)
    missing = [" ".join(p) for p, cmd in commands.items() if "--json" not in {o for p_ in cmd.params for o in p_.opts}]
    assert missing == []


def test_progress_bar_on_a_terminal_only(cli, stack, tmp_path):
    assert cli(*ORDERS)[0] == 0
    leader, follower = pty.openpty()
    env = {**os.environ, **stack.to_env(), "TERM": "xterm", "COLUMNS": "100"}
    proc = subprocess.Popen([sys.executable, "-m", "portico_cli", "reconcile", "--json"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=follower, text=True)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=60)
    os.close(leader)
    assert proc.returncode == 0 and json.loads(out)["statuses"] == {"READY": 1}  # stdout stays pure JSON
    assert b"reconciling" in seen and b"\xe2\x94\x81" in seen  # the bar (━) drawn on the terminal


def test_invoke_runs_a_handler_in_process_on_an_event(cli, clients, stack):
    registry = Registry(clients.dynamodb, stack.registry_table)
    stream_event("stream-insert.json", registry)  # the table holds what the record says was written
    code, out, err = cli("invoke", "RegistryStreamFunction", "-e", str(EVENTS / "stream-insert.json"), "--json")
    assert code == 0 and json.loads(out) == {"batchItemFailures": []}, err
    (name,) = registry.scan()
    assert registry.get(name)["status"] == "READY"
    code, out, _ = cli("invoke", "sweeper", "-e", str(EVENTS / "schedule.json"))
    assert code == 0 and json.loads(out)["steps"] == 0  # converged: the sweep changes nothing
    code, _, err = cli("invoke", "NoSuchFunction", "-e", str(EVENTS / "schedule.json"))
    assert code == 4 and "RegistryStreamFunction (stream)" in one_line(err)
    code, _, err = cli("invoke", "stream", "-e", "-", stdin="{not json")
    assert code == 4 and "--event: cannot read an event" in one_line(err)


def demo_services(endpoint: str) -> None:
    """The ECS services the demo routes, in the local VPC `local up` made (a user's own, not the stack's)."""
    create_in_local_network(endpoint, group_name="tasks")


def test_local_up_stream_down(tmp_path):
    env = bare_env()  # `local up` is the whole configuration: .portico/local.env
    code, out, err = portico("local", "up", "--json", env=env, cwd=tmp_path)
    assert code == 0, err
    up = json.loads(out)
    assert {"endpoint", "pid", "envFile", "restApiId", "stages", "loadBalancerArns", "registryTable", "stateTable",
            "stack"} <= set(up) and up["endpoint"].startswith("http://127.0.0.1:")
    try:
        demo_services(up["endpoint"])
        assert portico(*ORDERS, env=env, cwd=tmp_path)[0] == 0
        code, out, err = portico("local", "stream", "--once", "--json", env=env, cwd=tmp_path)
        assert code == 0 and json.loads(out) == {"delivered": 1, "failed": 0} and err == ""
        (row,) = json.loads(portico("ls", "--json", env=env, cwd=tmp_path)[1])
        assert row["status"] == "READY"
        # the local API Gateway serves every stage: a path no stage routes is API Gateway's 403
        assert up["stageUrls"]["dev"] == up["gatewayUrl"] + "/dev"
        assert requests.get(up["stageUrls"]["dev"] + "/nowhere", timeout=10).json() == {
            "message": "Missing Authentication Token"}
    finally:
        code, out, _ = portico("local", "down", "--json", env=env, cwd=tmp_path)
    assert code == 0 and json.loads(out) == {"stopped": True, "endpoint": up["endpoint"], "dataPlaneStopped": True}
    with pytest.raises(requests.ConnectionError):
        requests.get(up["gatewayUrl"], timeout=5)
    assert portico("ls", env=env, cwd=tmp_path)[0] == 3  # its settings went with it


@pytest.mark.slow  # a whole local stack of its own (~40 s): make test-slow
def test_local_up_in_alb_mode_routes_through_a_listener_rule(tmp_path):
    env = bare_env()
    assert portico("local", "up", "--backend", "tcp", env=env, cwd=tmp_path)[0] == 4
    code, out, err = portico("local", "up", "--backend", "alb", "--json", env=env, cwd=tmp_path)
    assert code == 0, err
    up = json.loads(out)
    try:
        local_env = (tmp_path / ".portico" / "local.env").read_text()
        assert "PORTICO_BACKEND=alb" in local_env and "PORTICO_VPC_LINK_VERSION=v2" in local_env
        assert len(up["loadBalancerArns"]) == 1 and ":loadbalancer/app/" in up["loadBalancerArns"][0]
        code, _, err = portico("local", "up", "--backend", "nlb", env=env, cwd=tmp_path)  # not over a running ALB stack
        assert code == 4 and "runs the alb backend" in one_line(err) and "portico local down" in err, err
        assert (tmp_path / ".portico" / "local.env").read_text() == local_env
        demo_services(up["endpoint"])
        code, _, err = portico(*ORDERS, env=env, cwd=tmp_path)
        assert code == 0, err
        code, out, err = portico("local", "stream", "--once", "--json", env=env, cwd=tmp_path)
        assert code == 0 and json.loads(out) == {"delivered": 1, "failed": 0}, err
        (row,) = json.loads(portico("ls", "--json", env=env, cwd=tmp_path)[1])
        assert row["status"] == "READY" and "rule priority 1 on the ALB" in row["message"], row
    finally:
        code, _, _ = portico("local", "down", "--json", env=env, cwd=tmp_path)
    assert code == 0


@pytest.mark.parametrize("option", ["--port", "--gateway-port"])
def test_local_up_refuses_a_port_that_is_taken_before_starting_anything(tmp_path, option):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = portico("local", "up", option, str(port), env=bare_env(), cwd=tmp_path)
    assert code == 4 and f"{option}: {port} cannot be used on 127.0.0.1" in one_line(err), err
    assert not (tmp_path / ".portico" / "moto.pid").exists()  # no local AWS left running


def test_plan_and_reconcile_refuse_an_unknown_service(cli):
    """No entry and nothing being offboarded: exit 4 naming it, nothing reconciled (docs/cli.md)."""
    assert cli(*ORDERS)[0] == 0
    for command in ("plan", "reconcile"):
        code, out, err = cli(command, "--service", "orders", "--service", "nosuch")
        assert code == 4 and out == "" and "unknown service 'nosuch'" in one_line(err), (command, err)
        code, out, _ = cli(command, "--service", "nosuch", "--json")
        assert "nosuch" in error_doc(out, 4, "refused")["message"]
    assert cli("reconcile", "--service", "orders")[0] == 0
    code, out, err = cli("doctor", "nosuch")
    assert code == 4 and out == "" and "unknown service 'nosuch'" in one_line(err), err


def test_output_into_a_pipe_closed_early_is_not_an_error(cli, stack, tmp_path):
    """`portico ls --json | head -1`: the reader goes away before portico writes; portico stops quietly."""
    assert cli(*ORDERS)[0] == 0 and cli("reconcile")[0] == 0
    env = {**os.environ, **stack.to_env()}
    proc = subprocess.Popen([sys.executable, "-m", "portico_cli", "ls", "--json"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # before portico has read the registry: its first write meets a closed pipe
    err = proc.stderr.read()
    assert (proc.wait(120), err) == (0, "")


@pytest.mark.slow  # a whole local stack of its own (~40 s): make test-slow
def test_local_down_leaves_no_task_running_after_the_local_aws_died(tmp_path):
    """The emulator and then the data plane are killed (SIGKILL: no chance to stop their tasks, which run in their
    own session); `local up` starts a new local AWS, then `local down`: no task process of the first data plane is
    left running."""
    env = bare_env()
    code, out, err = portico("local", "up", "--json", env=env, cwd=tmp_path)
    assert code == 0, err
    up = json.loads(out)
    state = tmp_path / ".portico" / "dataplane.json"
    try:
        demo_services(up["endpoint"])
        deadline = time.monotonic() + 60
        while not (ports := [t["hostPort"] for ts in json.loads(state.read_text()).get("tasks", {}).values()
                             for t in ts]) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert ports, "the data plane started no task"
        os.kill(up["pid"], signal.SIGKILL)
        os.kill(json.loads(state.read_text())["pid"], signal.SIGKILL)
        assert portico("local", "up", env=env, cwd=tmp_path)[0] == 0
    finally:
        assert portico("local", "down", env=env, cwd=tmp_path)[0] == 0
    for port in ports:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
