"""Fixtures for the custom resource provider: a loopback server that records CloudFormation answers, the
provider's environment pointed at the moto stack, and CloudFormation events."""

from __future__ import annotations

import copy
import json
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

from portico.triggers import default_reconciler, provider
from portico.triggers.cfn import service_route
from tests.support import Recorder  # shared with the IAM contract test

EVENTS = Path(__file__).resolve().parents[2] / "events"
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/orders-service/5b2a2d10-5f1a-11ef-9a3e-0a1b2c3d4e5f"
OTHER_STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/rogue/0c9d7f4e-5f1a-11ef-9a3e-0a1b2c3d4e5f"
TOKEN = "arn:aws:lambda:us-east-1:123456789012:function:portico-ServiceRouteProviderFunction-Q2n8cXkR1pLd"


@pytest.fixture
def recorder():
    rec = Recorder()
    yield rec
    rec.close()


def context(seconds: float = 900.0):
    deadline = time.monotonic() + seconds
    return SimpleNamespace(function_name="portico-provider", aws_request_id=str(uuid.uuid4()),
                           invoked_function_arn=TOKEN, memory_limit_in_mb=512,
                           get_remaining_time_in_millis=lambda: max(0, int((deadline - time.monotonic()) * 1000)))


@pytest.fixture
def env(stack, monkeypatch):
    """The provider's Lambda environment, pointed at the test's stack (template.yaml deployed in the emulator)."""
    for name, value in stack.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(service_route, "MAX_WAIT_BETWEEN_PASSES", 0.05)
    default_reconciler.cache_clear()
    yield stack
    default_reconciler.cache_clear()


class Cfn:
    """Sends requests the way CloudFormation does and returns the one answer each got."""

    def __init__(self, recorder: Recorder):
        self.recorder = recorder

    def event(self, request: str, props: dict | None = None, *, kind: str = "Custom::ServiceRoute",
              logical: str = "OrdersRoute", physical: str | None = None, old: dict | None = None,
              stack: str = STACK_ID) -> dict:
        rid = str(uuid.uuid4())
        event = {"RequestType": request, "ServiceToken": TOKEN, "ResponseURL": self.recorder.url(rid),
                 "StackId": stack, "RequestId": rid, "LogicalResourceId": logical, "ResourceType": kind,
                 "ResourceProperties": {"ServiceToken": TOKEN, "ServiceTimeout": "900", **(props or {})}}
        if physical is not None:
            event["PhysicalResourceId"] = physical
        if old is not None:
            event["OldResourceProperties"] = {"ServiceToken": TOKEN, **old}
        return event

    def send(self, event: dict, ctx=None) -> dict:
        provider.handler(copy.deepcopy(event), ctx or context())
        answers = self.recorder.for_request(event["RequestId"])
        assert len(answers) == 1, f"expected exactly one answer, got {answers}"
        return answers[0]

    def __call__(self, request: str, props: dict | None = None, **kwargs) -> dict:
        return self.send(self.event(request, props, **kwargs))


@pytest.fixture
def cfn(env, recorder) -> Cfn:
    return Cfn(recorder)


ORDERS = {"Service": "orders", "Cluster": "demo", "EcsService": "orders", "ContainerName": "app",
          "ContainerPort": "8080", "Path": "/orders", "Methods": ["GET", "POST"], "Auth": "API_KEY"}


def load_event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())
