"""Fixtures for the fault, stateful, concurrency, corpus and scale suites."""

from __future__ import annotations

import types

import botocore.endpoint
import pytest

from portico_cli.local_aws import server
from portico_cli.local_aws.emulator.apigateway import DEPLOY_INTERVAL

from .injector import Injector
from .world import World, make_clients


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory):
    """These suites make thousands of calls: a moto server in its own process (not a thread sharing the
    test's GIL) makes them about 1.5 times faster. Still on loopback, still one server for the session.
    CreateDeployment is not paced here (the world's portico deploys with deploy_interval_seconds=0): the
    rule is tested with portico's pacing in tests/emulator."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv(DEPLOY_INTERVAL, "0")
        pid, endpoint = server.start_server(None, tmp_path_factory.mktemp("moto"))
    yield endpoint
    server.stop_server(pid)


@pytest.fixture(scope="session")
def base_clients(moto_endpoint):
    """Clients with no hooks: what the tests use to look at AWS."""
    return make_clients(moto_endpoint)


@pytest.fixture(scope="session")
def _portico_clients(moto_endpoint):
    clients = make_clients(moto_endpoint)
    return clients, Injector().attach(clients)


@pytest.fixture
def portico_clients(_portico_clients):
    """A separate set of clients for portico, hooked by `injector`, so faults never leak into the checks."""
    return _portico_clients[0]


@pytest.fixture
def injector(_portico_clients):
    """The Injector on `portico_clients`, cleared before and after each test."""
    inj = _portico_clients[1]
    inj.clear()
    inj.reset_counts()
    inj.on_call = None
    yield inj
    inj.clear()
    inj.on_call = None


@pytest.fixture
def world(moto_endpoint, base_clients) -> World:
    w = World(moto_endpoint, base_clients)
    w.fresh()
    return w


@pytest.fixture
def backoff(monkeypatch) -> list[float]:
    """botocore's retry backoff, recorded instead of slept (the retry logic itself runs unchanged)."""
    slept: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=slept.append))
    return slept
