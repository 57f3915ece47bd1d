"""Shared fixtures: one moto server on loopback for the session, reset before each test."""

from __future__ import annotations

import atexit
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import requests
from moto.server import ThreadedMotoServer

from portico.clients import Clients
from portico.settings import Settings
from portico_cli.local_aws import account as local
from portico_cli.local_aws import stack as local_stack
from portico_cli.local_aws.demo import create_in_local_network
from portico_cli.local_aws.emulator import limit
from portico_cli.local_aws.emulator.apigateway import DEPLOY_INTERVAL

# No test may reach a real AWS account, whatever the developer's shell has exported.
for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(name, None)
os.environ.update(local.CREDENTIALS, AWS_DEFAULT_REGION=local.REGION, AWS_REGION=local.REGION)
# CreateDeployment: the emulator allows one per 0.2 s here (AWS: 5 s), and the stack's settings pace portico to
# the same interval, so the suite keeps the rule without waiting for it; tests/emulator/test_rules.py
# runs it at AWS's 5 s.
os.environ.setdefault(DEPLOY_INTERVAL, "0.2")
_TEMPLATES = Path(tempfile.mkdtemp(prefix="portico-templates-"))  # the transformed template, per test process
atexit.register(shutil.rmtree, _TEMPLATES, True)


@pytest.fixture(scope="session")
def moto_endpoint():
    from portico_cli.local_aws.emulator import install

    install()  # the same emulator as `portico local up`: moto as strict as AWS where portico depends on it
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint):
    """A fresh, empty local AWS for one test."""
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    return moto_endpoint


_DEPLOYED: dict[str, Settings] = {}  # this process's template stacks, by their parameters (emulator snapshots)


def template_stack(endpoint: str, **parameters: str) -> Settings:
    """template.yaml deployed with `parameters` (stack `portico`, VPC links v1 unless given) through the
    emulator's CloudFormation, and the demo's ECS cluster and services beside it (what a user brings), as a fresh
    local AWS holds them: deployed once per test process and parameters (~5 s), then restored from the
    emulator's snapshot of it (~0.5 s; docs/deploy.md, "The tests' stack")."""
    from portico_cli.local_aws.emulator.snapshot import RESTORE_URL, SNAPSHOT_URL

    parameters = {"VpcLinkVersion": "v1", **parameters}
    name = ",".join(f"{k}={v}" for k, v in sorted(parameters.items()))
    if name in _DEPLOYED:
        requests.post(f"{endpoint}{RESTORE_URL}", params={"name": name}, timeout=60).raise_for_status()
        return _DEPLOYED[name]
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    settings = local_stack.deploy(endpoint, parameters, stack="portico", cache=_TEMPLATES)
    subnets, group = create_in_local_network(endpoint)
    requests.post(f"{endpoint}{SNAPSHOT_URL}", params={"name": name}, timeout=120).raise_for_status()
    # The emulator's CreateDeployment interval of the tests (above), and any cluster: the template's
    # ClusterNames scopes its IAM policy, which nothing enforces here.
    _DEPLOYED[name] = dataclasses.replace(settings, deploy_interval_seconds=limit(DEPLOY_INTERVAL, 5),
                                          allowed_clusters=(), extra={"subnets": ",".join(subnets),
                                                                      "securityGroup": group})
    return _DEPLOYED[name]


def shaped_stack(endpoint: str, *, load_balancers: int = 1, vpc_links: str = "v1", backend: str = "nlb",
                 port_range: tuple[int, int] | None = None, max_load_balancers: int | None = None) -> Settings:
    """template_stack in another shape: the template's LoadBalancerCount, VpcLinkVersion, Backend, PortRange and
    MaxLoadBalancers (left at the template's default unless given)."""
    parameters = {"VpcLinkVersion": vpc_links, **({"Backend": "alb"} if backend == "alb" else {})}
    if max_load_balancers is not None:
        parameters["MaxLoadBalancers"] = str(max_load_balancers)
    if load_balancers != 1:
        parameters["LoadBalancerCount"] = str(load_balancers)
    if port_range:
        parameters["PortRange"] = f"{port_range[0]}-{port_range[1]}"
    return template_stack(endpoint, **parameters)


@pytest.fixture
def stack(aws) -> Settings:
    """template.yaml's stack (1 NLB on VPC links v1, the REST API with dev/qa/prod, the tables, the functions)
    and the demo ECS cluster."""
    return template_stack(aws)


@pytest.fixture
def clients(stack) -> Clients:
    return Clients.create(stack, boto3_session=local.session(stack.endpoint_url))


@pytest.fixture
def meter(clients):
    from tests.metering import CallMeter

    return CallMeter(clients.all())


@pytest.fixture
def reconciler(clients, stack):
    from portico.reconcile import Reconciler

    return Reconciler(clients, stack)


def spec_item(service: str, **kw) -> dict:
    """A registry item for one of the demo services (or any ECS service via ecsService=...)."""
    ports = {"orders": 8080, "users": 8080, "catalog": 3000}
    item = {"service": service, "cluster": "demo", "containerPort": ports.get(kw.get("ecsService", service), 8080),
            "path": f"/{service}", "auth": "NONE"}
    item.update(kw)
    return {k: v for k, v in item.items() if v is not None}


@pytest.fixture
def cli(stack, tmp_path):
    """Run `portico ...` as a subprocess against the test stack, from an empty folder (no .portico/local.env);
    returns (exit code, stdout, stderr)."""
    env = {**os.environ, **stack.to_env(), "COLUMNS": "200"}

    def run(*args: str, stdin: str | None = None):
        done = subprocess.run([sys.executable, "-m", "portico_cli", *args], cwd=tmp_path, env=env, input=stdin,
                              capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr

    return run


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test: for code that must be pure (the planner)."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("this code must not touch the network")
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
