"""Helpers shared by the test suites: Lambda handlers loaded the way Lambda loads them, events/ fixtures."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from portico.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"


def load_handler(function: str):
    """Import functions/<function>/app.py by file, as Lambda does from the function's Handler, and return
    its `handler`."""
    name = function.removeprefix("functions/")
    spec = importlib.util.spec_from_file_location(f"lambda_{name}", ROOT / "functions" / name / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


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
