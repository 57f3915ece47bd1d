"""`python -m portico_cli.local_aws.dataplane --endpoint URL --rest-api-id ID [--port N] [--folder DIR]`.

Runs the local data plane until SIGTERM/SIGINT, then stops every task process it started. Once serving, it
keeps DIR/dataplane.json up to date: `{"pid", "url", "tasks"}` (what `portico local up` waits for, `down`
reads, and where each task's loopback port is).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from .plane import DataPlane

STATE_FILE = "dataplane.json"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m portico_cli.local_aws.dataplane", description=__doc__)
    p.add_argument("--endpoint", required=True, help="the local AWS (moto server) URL")
    p.add_argument("--rest-api-id", required=True)
    p.add_argument("--port", type=int, default=0, help="gateway port on 127.0.0.1 (default: a free one)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between passes")
    p.add_argument("--folder", type=Path, default=Path(".portico"))
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    a.folder.mkdir(parents=True, exist_ok=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    state = a.folder / STATE_FILE
    plane = DataPlane(a.endpoint, a.rest_api_id, port=a.port, interval=a.interval, logs=a.folder,
                      state_file=state).start()
    try:
        done.wait()
    finally:
        plane.stop()
        state.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
