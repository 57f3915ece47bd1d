"""Local tasks as processes: a crash-looping task backs off and keeps one log per task slot, saying its exit code in
the data plane's log; a task never outlives the data plane that started it, however the data plane dies."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from portico.clients import Clients
from portico_cli.local_aws import account as local
from portico_cli.local_aws.dataplane.agent import Agent


def crashing_service(clients: Clients, subnets: list[str], groups: list[str]) -> None:
    ecs = clients.ecs
    ecs.register_task_definition(family="crashy", networkMode="awsvpc", containerDefinitions=[{
        "name": "app", "image": "local", "essential": True, "memory": 128, "portMappings": [{"containerPort": 8080}],
        "command": [sys.executable, "-c", "import sys; print('starting', flush=True); sys.exit(3)"]}])
    ecs.create_service(cluster="demo", serviceName="crashy", taskDefinition="crashy", desiredCount=1,
                       launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": groups}})


def test_a_crash_looping_task_backs_off_and_keeps_one_log_per_slot(stack, tmp_path, caplog):
    clients = Clients.create(stack, boto3_session=local.session(stack.endpoint_url))
    subnets = [s["SubnetId"] for s in clients.ec2.describe_subnets()["Subnets"]][:1]
    groups = [g["GroupId"] for g in clients.ec2.describe_security_groups()["SecurityGroups"]][:1]
    crashing_service(clients, subnets, groups)
    agent = Agent(clients.ecs, clients.ec2, clients.elbv2, logs=tmp_path)
    caplog.set_level(logging.WARNING, logger="portico_cli.local_aws.dataplane.agent")
    started = time.monotonic()
    while time.monotonic() - started < 6:  # the data plane syncs about once a second
        agent.sync()
        time.sleep(0.5)
    agent.stop()
    exits = [r.getMessage() for r in caplog.records if "exited with code 3" in r.getMessage()]
    # restarts after 1, 2 and 4 s: at most 4 starts in 6 s (without the back-off, one per sync: about 10)
    assert 2 <= len(exits) <= 4, exits
    assert "ECS service demo/crashy" in exits[0] and "starting it again in 1 s" in exits[0]
    assert "starting it again in 2 s" in exits[1]
    logs = sorted(p.name for p in tmp_path.iterdir() if "crashy" in p.name)
    assert logs == ["task-demo-crashy-0.log"], logs  # one file for the slot, appended
    assert (tmp_path / logs[0]).read_text().count("starting") == len(exits)
    assert str(tmp_path / logs[0]) in exits[0]


def dead(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # a zombie nobody reaped is dead too


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
def test_a_task_dies_with_the_data_plane_that_started_it(tmp_path):
    """A process standing for the data plane launches a task (in its own session, as every task is) and is
    SIGKILLed: the task goes with it."""
    plane = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from portico_cli.local_aws.dataplane.tasks import launch\n"
        "task = launch([sys.executable, '-c', 'import time; time.sleep(120)'], {}, None)\n"
        "print(task.pid, flush=True)\n"
        "time.sleep(120)\n")], stdout=subprocess.PIPE, text=True)
    pid = int(plane.stdout.readline())
    assert os.getpgid(pid) != os.getpgid(plane.pid)  # its own session: the data plane's signals do not reach it
    plane.send_signal(signal.SIGKILL)
    plane.wait(10)
    deadline = time.monotonic() + 5
    while not dead(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not dead(pid):
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the task outlived the data plane")
