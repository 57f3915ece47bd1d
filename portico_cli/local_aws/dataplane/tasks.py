"""Local tasks: one real process per ECS task, listening on a free loopback port.

A container definition whose `image` is `local` runs its own `entryPoint` + `command` (`${PORT}` in an argument
is replaced by the port, and `PORT` is set in its environment with the container's `environment`); any other
image runs the stand-in (`standin.py`), which answers with the service's name and what it received.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

LOCAL_IMAGE = "local"
START_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command_for(container: dict, service: str, port: int, task_id: str) -> tuple[list[str], dict[str, str]]:
    """The local command and environment of one task of `container` (a task definition's container)."""
    env = {e["name"]: e["value"] for e in container.get("environment") or [] if "name" in e}
    env.update(PORT=str(port), PORTICO_TASK_ID=task_id)
    if container.get("image") == LOCAL_IMAGE:
        argv = [*(container.get("entryPoint") or []), *(container.get("command") or [])]
        if not argv:
            raise ValueError(f"container {container.get('name')!r}: image 'local' needs an entryPoint or command")
        return [a.replace("${PORT}", str(port)) for a in argv], env
    return [sys.executable, "-m", "portico_cli.local_aws.dataplane.standin", "--service", service,
            "--port", str(port), "--task", task_id], env


@dataclass
class Task:
    """One running task: its ENI address (what ECS registers) and the loopback port its process listens on."""

    id: str
    service: str  # "cluster/service"
    ip: str
    container_port: int
    host_port: int
    proc: subprocess.Popen
    registered: set[str] = field(default_factory=set)  # target group ARNs
    slot: int = 0  # which of the service's tasks it is (0 … desiredCount-1): its log file is the slot's
    started: float = field(default_factory=time.monotonic)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def _die_with_the_data_plane() -> None:
    """In the task's process before it runs (Linux): the kernel sends it SIGKILL when the data plane's thread that
    started it ends, however the data plane dies (its own session keeps the data plane's signals from reaching
    it). prctl(2), PR_SET_PDEATHSIG (1): https://man7.org/linux/man-pages/man2/prctl.2.html"""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def launch(argv: list[str], env: dict[str, str], log: Path | None) -> subprocess.Popen:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - handed to the child process
    try:
        return subprocess.Popen(argv, env={**os.environ, **env}, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_the_data_plane if sys.platform == "linux" else None)
    finally:
        if log:
            out.close()


def wait_listening(tasks: list[Task], timeout: float = START_TIMEOUT) -> list[Task]:
    """The tasks whose process accepts connections within `timeout` (ECS marks a task RUNNING once it started);
    the others are stopped and left out."""
    deadline, pending, ready = time.monotonic() + timeout, list(tasks), []
    while pending and time.monotonic() < deadline:
        for t in list(pending):
            if not t.alive():
                pending.remove(t)
                continue
            try:
                with socket.create_connection(("127.0.0.1", t.host_port), timeout=0.2):
                    ready.append(t)
                    pending.remove(t)
            except OSError:
                pass
        if pending:
            time.sleep(0.05)
    for t in pending:
        t.stop()
    return ready
