"""A routed local stack with its data plane running, shared by the tests of one module.

Services are onboarded through the real reconcile; their target groups get portico's default health check, the
quickest AWS allows (5 s, 2 checks), so a target is healthy 5 to 10 s after it registers.
"""

from __future__ import annotations

import time

import httpx
import pytest
import requests

from portico.clients import Clients
from portico.reconcile import ALL, Reconciler
from portico.registry import Registry
from portico_cli.local_aws import account as local
from portico_cli.local_aws.dataplane import DataPlane
from tests.conftest import shaped_stack, spec_item


class Stack:
    def __init__(self, endpoint: str, **shape):
        """template.yaml's stack in `shape` (tests/conftest.py's shaped_stack), on a local AWS holding nothing else."""
        requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
        self.settings = shaped_stack(endpoint, **shape)
        self.clients = Clients.create(self.settings, boto3_session=local.session(endpoint))
        self.reconciler = Reconciler(self.clients, self.settings, sleep=lambda s: None)
        self.registry = Registry(self.clients.dynamodb, self.settings.registry_table)
        self.plane: DataPlane | None = None
        self.http = httpx.Client(trust_env=False, timeout=10)

    def onboard(self, *items: dict) -> None:
        for item in items:
            self.registry.put_spec(item)
        outcome = self.reconciler.run(ALL)
        for item in items:
            status = outcome.statuses[item["service"]]
            assert status.status == "READY", status

    def url(self, path: str, stage: str = "dev") -> str:
        return self.plane.invoke_url(stage, path)

    def wait_for(self, path: str, status: int = 200, timeout: float = 30.0, **kw) -> httpx.Response:
        """Poll `path` (bounded) until it answers `status`; the last answer is returned either way."""
        deadline = time.monotonic() + timeout
        while True:
            resp = self.http.get(self.url(path), **kw)
            if resp.status_code == status or time.monotonic() > deadline:
                return resp
            time.sleep(0.25)


@pytest.fixture(scope="module")
def local_stack(moto_endpoint):
    stack = Stack(moto_endpoint)
    yield stack
    if stack.plane:
        stack.plane.stop()
    stack.http.close()


def start_plane(stack: Stack) -> DataPlane:
    stack.plane = DataPlane(stack.settings.endpoint_url, stack.settings.rest_api_id, interval=1.0).start()
    return stack.plane


__all__ = ["ALL", "Stack", "spec_item", "start_plane"]
