"""The data plane as a background process of `portico local up` (and its end in `portico local down`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from ..server import alive, stop_server
from .__main__ import STATE_FILE

START_TIMEOUT = 60.0
GATEWAY_URL_ENV = "PORTICO_LOCAL_GATEWAY_URL"  # in .portico/local.env: where `portico doctor --probe` sends


def running(folder: Path) -> dict | None:
    """`{"pid", "url"}` of the data plane serving from `folder`, if it runs."""
    state = folder / STATE_FILE
    if not state.exists():
        return None
    info = json.loads(state.read_text())
    return info if alive(int(info["pid"])) else None


def start(endpoint: str, rest_api_id: str, folder: Path, port: int = 0) -> dict:
    found = running(folder)
    if found and (found.get("endpoint"), found.get("restApiId")) == (endpoint, rest_api_id):
        return found
    stop(folder)  # one left from a local AWS that is gone: it serves nothing now
    log = open(folder / "dataplane.log", "ab")  # noqa: SIM115 - handed to the child process
    cmd = [sys.executable, "-m", "portico_cli.local_aws.dataplane", "--endpoint", endpoint,
           "--rest-api-id", rest_api_id, "--port", str(port), "--folder", str(folder)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    log.close()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        found = running(folder)
        if found:
            return found
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"the local data plane did not start (see {folder / 'dataplane.log'})")


def stop(folder: Path) -> bool:
    """Stop it, giving it time to stop its tasks and deregister them."""
    found = running(folder)
    (folder / STATE_FILE).unlink(missing_ok=True)
    return bool(found) and stop_server(int(found["pid"]), grace=20.0)
