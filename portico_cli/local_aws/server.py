"""The local AWS's process: moto's server with the emulator patch on a loopback port, started and stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port(port: int = 0) -> int:
    """`port` if nothing listens on it on 127.0.0.1 (any free port for 0); OSError when it is taken."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 20.0) -> None:
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, int(port)), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"the local AWS at {url} did not start within {timeout:.0f} s")


def start_server(port: int | None, folder: Path) -> tuple[int, str]:
    """Start moto's server (with the emulator patch) on 127.0.0.1; returns (pid, endpoint) once it listens."""
    pid, endpoint = spawn_server(port, folder)
    wait_for(endpoint)
    return pid, endpoint


def spawn_server(port: int | None, folder: Path) -> tuple[int, str]:
    """Start it without waiting (it takes seconds to import moto and patch it: a caller can work meanwhile)."""
    port = port or free_port()
    folder.mkdir(parents=True, exist_ok=True)
    log = open(folder / "moto.log", "ab")  # noqa: SIM115 - handed to the child process
    cmd = [sys.executable, "-m", "portico_cli.local_aws.emulator", "-H", "127.0.0.1", "-p", str(port)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return proc.pid, f"http://127.0.0.1:{port}"


def stop_server(pid: int, grace: float = 2.5) -> bool:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    for _ in range(int(grace / 0.05)):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    os.killpg(pid, signal.SIGKILL)
    return True


def alive(pid: int) -> bool:
    """The process runs: it exists and is not a zombie. A killed local AWS stays a zombie until whoever adopted it
    reaps it; taken for a running one, `local up` would deploy to its dead endpoint."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (macOS): what kill says
        return True
