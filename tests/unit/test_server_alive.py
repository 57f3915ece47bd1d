"""`portico local`'s liveness check of the local AWS it started: a killed process that nobody has reaped yet (a
zombie) is not running, so `local up` starts a new local AWS instead of deploying to a dead endpoint."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from portico_cli.local_aws.server import alive


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="zombies are read from /proc (Linux)")
def test_a_killed_process_not_yet_reaped_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert alive(child.pid)
        child.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child never became a zombie"
            time.sleep(0.01)
        assert not alive(child.pid)  # it still has a pid (os.kill(pid, 0) succeeds): not waited for yet
    finally:
        child.kill()
        child.wait()
    assert not alive(child.pid)
