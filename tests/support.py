"""Helpers shared by the test suites: Lambda handlers loaded the way Lambda loads them, events/ fixtures."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from portico.registry import Registry
from portico_cli.local_aws.functions import load_handler  # noqa: F401 - the handlers as Lambda loads them

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"


def event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def stream_event(name: str, registry: Registry) -> dict:
    """An events/ stream event, with the registry made to hold what its records say was written (the records
    exist because the table changed)."""
    ev = event(name)
    for rec in ev["Records"]:
        key = rec["dynamodb"]["Keys"]["service"]["S"]
        if rec["eventName"] == "REMOVE":
            registry.delete(key)
        else:
            registry.ddb.put_item(TableName=registry.table, Item=rec["dynamodb"]["NewImage"])
    return ev


class Recorder:
    """Stands in for the pre-signed S3 URL: records every PUT (path, headers, JSON body)."""

    def __init__(self):
        self.puts: list[dict] = []
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with recorder.lock:
                    recorder.puts.append({"path": self.path, "headers": dict(self.headers),
                                          "raw": body, "body": json.loads(body)})
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, request_id: str) -> str:
        host, port = self.server.server_address
        return f"http://{host}:{port}/cfn/{request_id}?X-Amz-Signature=secret"

    def for_request(self, request_id: str) -> list[dict]:
        with self.lock:
            return [p["body"] for p in self.puts if p["body"].get("RequestId") == request_id]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
