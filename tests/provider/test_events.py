"""Every events/cfn-*.json through the real handler (ResponseURL pointed at the recorder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from .conftest import EVENTS, context, load_event

ROOT = Path(__file__).resolve().parents[2]
NAMES = sorted(p.name for p in EVENTS.glob("cfn-*.json"))


def test_the_event_set_covers_every_request_kind():
    for kind in ("service-route", "listener-port"):
        for case in ("create", "update", "update-replace", "delete", "delete-failed-create"):
            assert f"cfn-{kind}-{case}.json" in NAMES


def test_the_service_route_events_in_stack_order(cfn, recorder, stack, clients):
    """Create → Update → replacement on the same path (a move) → Delete of the old id → a failed Create's Delete."""
    answers = {}
    for case in ("create", "update", "update-replace", "delete", "delete-failed-create"):
        event = load_event(f"cfn-service-route-{case}.json")
        event["ResponseURL"] = recorder.url(event["RequestId"])
        answers[case] = cfn.send(event, context())
        assert answers[case]["Status"] == "SUCCESS", (case, answers[case]["Reason"])
    assert answers["create"]["PhysicalResourceId"] == answers["update"]["PhysicalResourceId"] == "orders"
    assert answers["update-replace"]["PhysicalResourceId"] == "orders-api"
    items = clients.dynamodb.scan(TableName=stack.registry_table)["Items"]
    assert [(i["service"]["S"], i["status"]["S"]) for i in items] == [("orders-api", "READY")]


def test_the_listener_port_events_in_stack_order(cfn, recorder, stack):
    physical = None
    for case in ("create", "update", "update-replace", "delete", "delete-failed-create"):
        event = load_event(f"cfn-listener-port-{case}.json")
        event["ResponseURL"] = recorder.url(event["RequestId"])
        if physical and "PhysicalResourceId" in event and case != "delete-failed-create":
            event["PhysicalResourceId"] = physical  # the load balancer ARN differs per account
        answer = cfn.send(event, context())
        assert answer["Status"] == "SUCCESS", (case, answer["Reason"])
        if case == "update-replace":
            assert answer["Data"]["Port"] == 10500 and answer["PhysicalResourceId"] != physical
        physical = answer["PhysicalResourceId"] if case != "delete" else physical


def test_a_handler_that_crashes_at_import_still_answers(recorder):
    """portico fails to import (here: its reconcile module is unloadable): crhelper's init_failure answers."""
    event = load_event("cfn-service-route-create.json")
    event["ResponseURL"] = recorder.url(event["RequestId"])
    script = textwrap.dedent(f"""
        import json, sys, types
        sys.modules["portico.reconcile"] = None  # any import of it now raises ImportError
        sys.path.insert(0, {str(ROOT / "functions" / "provider")!r})
        import app
        ctx = types.SimpleNamespace(function_name="f", aws_request_id="r",
                                    get_remaining_time_in_millis=lambda: 60000)
        app.handler(json.loads(sys.argv[1]), ctx)
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
    done = subprocess.run([sys.executable, "-c", script, json.dumps(event)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answers = recorder.for_request(event["RequestId"])
    assert len(answers) == 1
    assert answers[0]["Status"] == "FAILED"
    assert "portico.reconcile" in answers[0]["Reason"]
    assert "X-Amz-Signature" not in done.stdout + done.stderr


def test_the_handler_imports_and_answers_without_a_region(recorder):
    """Outside Lambda no AWS_REGION may be set: crhelper's (unused) polling clients must not fail the provider."""
    event = load_event("cfn-service-route-delete-failed-create.json")
    event["ResponseURL"] = recorder.url(event["RequestId"])
    script = textwrap.dedent(f"""
        import json, sys, types
        sys.path.insert(0, {str(ROOT / "functions" / "provider")!r})
        import app
        ctx = types.SimpleNamespace(function_name="f", aws_request_id="r",
                                    get_remaining_time_in_millis=lambda: 60000)
        app.handler(json.loads(sys.argv[1]), ctx)
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTICO_", "AWS_"))}
    done = subprocess.run([sys.executable, "-c", script, json.dumps(event)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    answers = recorder.for_request(event["RequestId"])
    assert [a["Status"] for a in answers] == ["SUCCESS"]


def test_all_events_in_file_order_on_one_stack_each_succeed_once(cfn, recorder, stack, clients):
    """Out of CloudFormation's order too (an Update naming `orders` after the replacement to `orders-api`):
    the left-over entry of the same resource is removed instead of blocking the path."""
    for name in NAMES:
        event = load_event(name)
        event["ResponseURL"] = recorder.url(event["RequestId"])
        answer = cfn.send(event, context())
        assert answer["Status"] == "SUCCESS", (name, answer["Reason"])
        assert (answer["RequestId"], answer["LogicalResourceId"], answer["StackId"]) == \
            (event["RequestId"], event["LogicalResourceId"], event["StackId"])
        if name.endswith("delete-failed-create.json"):
            assert answer["PhysicalResourceId"] == event["PhysicalResourceId"]
    items = clients.dynamodb.scan(TableName=stack.registry_table)["Items"]
    assert [(i["service"]["S"], i["status"]["S"]) for i in items] == [("orders", "READY")]
