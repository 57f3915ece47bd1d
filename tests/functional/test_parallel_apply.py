"""A pass applies independent services side by side within AWS's rates: on the emulator with its AWS model on
(latency, token buckets refusing with AWS's throttling errors) and rates made tight so a dozen services exceed
them, portico's pacer keeps every call within them: 0 throttling errors, every service READY, each service's
steps still in ORDER, its ELB chains on several threads. Without the pacer the same pass is throttled."""

from __future__ import annotations

import contextlib
import threading

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from portico import apply
from portico.clients import Clients
from portico.pace import Pacer
from portico.reconcile import Reconciler
from portico.settings import Settings
from portico_cli.local_aws import account as local
from portico_cli.local_aws.emulator import aws_model
from tests.faults.world import World

SERVICES = [f"svc-{i:02d}" for i in range(10)]
# 20 ELBv2 writes, 10 UpdateService, 10 DescribeTaskDefinition: several times each bucket's burst
TIGHT = {"ELBV2_MUTATING": (4, 20), "ELBV2_DESCRIBE": (10, 20), "ECS_MUTATING": (3, 15), "ECS_READ": (3, 15)}


@pytest.fixture
def model(monkeypatch):
    """Switches the model on (after the set-up, which AWS's rates would only slow down), with full buckets."""
    def on() -> None:
        monkeypatch.setenv(aws_model.SWITCH, "1")
        monkeypatch.setenv(aws_model.LATENCY, "10")
        for bucket, (burst, rate) in TIGHT.items():
            monkeypatch.setenv(aws_model.RATE + bucket, f"{burst}/{rate}")
        aws_model.reset()

    yield on
    aws_model.reset()


def world(endpoint: str, pacer: Pacer, **config) -> tuple[World, Clients]:
    clients = Clients.create(Settings(endpoint_url=endpoint, region=local.REGION),
                             boto3_session=local.session(endpoint), pacer=pacer, **config)
    w = World(endpoint, clients)
    w.fresh(services=dict.fromkeys(SERVICES, 8080))
    for name in SERVICES:
        w.put(name)
    return w, clients


def calls_by_thread(clients: Clients) -> list[tuple[str, str, str]]:
    """(operation, service, thread) of every ELBv2 create, in call order (the service from portico's tags)."""
    seen: list[tuple[str, str, str]] = []

    def record(params=None, model=None, **_):
        service = next(t["Value"] for t in params["Tags"] if t["Key"] == "portico:service")
        seen.append((model.name, service, threading.current_thread().name))

    clients.elbv2.meta.events.register("before-parameter-build.elastic-load-balancing-v2.CreateTargetGroup", record)
    clients.elbv2.meta.events.register("before-parameter-build.elastic-load-balancing-v2.CreateListener", record)
    return seen


def status_threads(clients: Clients, table: str) -> list[str]:
    """The thread of each status write (an UpdateItem on the registry table), in call order."""
    seen: list[str] = []

    def record(params=None, **_):
        if params.get("TableName") == table:
            seen.append(threading.current_thread().name)

    clients.dynamodb.meta.events.register("before-parameter-build.dynamodb.UpdateItem", record)
    return seen


def read_threads(clients: Clients) -> dict[str, set[str]]:
    """The threads of observation's reads of each API: operation -> thread names."""
    seen: dict[str, set[str]] = {}

    def record(model=None, **_):
        seen.setdefault(model.name, set()).add(threading.current_thread().name)

    for client in (clients.elbv2, clients.apigateway, clients.cloudwatch):
        client.meta.events.register("before-call", record)
    return seen


def routed(w: World, clients: Clients, model, seen: list[tuple]) -> list[str]:
    """The pass under the model, every service READY; the operations `seen` recorded, in order."""
    model()
    outcome = Reconciler(clients, w.settings).run(SERVICES)
    assert {s: st.status for s, st in outcome.statuses.items()} == dict.fromkeys(SERVICES, "READY")
    return [op for op, _ in seen]


def last(ops: list[str], op: str) -> int:
    return len(ops) - 1 - ops[::-1].index(op)


def test_a_parallel_pass_within_the_paced_rates_is_never_throttled(aws, model):
    w, clients = world(aws, Pacer(TIGHT))
    seen, statuses = calls_by_thread(clients), status_threads(clients, w.settings.registry_table)
    reads = read_threads(clients)
    model()
    outcome = Reconciler(clients, w.settings).run(SERVICES)
    assert {s: st.status for s, st in outcome.statuses.items()} == dict.fromkeys(SERVICES, "READY")
    assert aws_model.refusals() == {}  # 0 throttling errors
    assert clients.pacer.waited > 0.5  # the rates did bite: the pacer, not luck, kept the pass within them
    assert len({thread for *_, thread in seen}) > 1  # services side by side
    order = [(op, service) for op, service, _ in seen]
    for service in SERVICES:  # each service's chain in ORDER
        assert order.index(("CreateTargetGroup", service)) < order.index(("CreateListener", service))
    assert len(statuses) == len(SERVICES) and len(set(statuses)) > 1  # the statuses written side by side too
    # observation reads each API on a thread of its own, side by side: the pool's, the API's, the alarms'
    threads = {op: reads[op] for op in ("DescribeListeners", "DescribeTargetGroups", "GetAuthorizers",
                                        "DescribeAlarms")}
    assert all(t and "MainThread" not in t for t in threads.values()), threads


def test_the_same_pass_unpaced_is_throttled(aws, model):
    w, clients = world(aws, Pacer({b: (10_000, 10_000) for b in TIGHT}),
                       boto_config=Config(retries={"mode": "standard", "total_max_attempts": 2}))
    model()
    with contextlib.suppress(ClientError):  # a read throttled past its retries ends the pass (its trigger retries)
        Reconciler(clients, w.settings).run(SERVICES)
    assert sum(aws_model.refusals().values()) > 0


def test_each_ecs_attachment_follows_its_own_listener_not_the_whole_pass(aws, model, monkeypatch):
    """ECS's calls run while ELBv2's do (apply.FOLLOWS): a service is attached once its chain has made its
    listener, in chunks (here of 2) as chains end, so the first UpdateService comes before the last CreateListener;
    in ORDER alone it would come after every listener and the API's steps."""
    monkeypatch.setitem(apply.CHUNKS, "attach_ecs", 2)
    w, clients = world(aws, Pacer(TIGHT))
    seen: list[tuple[str, str]] = []

    def record(params=None, model=None, **_):
        tags = {t["Key"]: t["Value"] for t in params.get("Tags") or []}
        seen.append((model.name, tags.get("portico:service") or params.get("service", "")))

    clients.elbv2.meta.events.register("before-parameter-build.elastic-load-balancing-v2.CreateListener", record)
    clients.ecs.meta.events.register("before-parameter-build.ecs.UpdateService", record)
    ops = routed(w, clients, model, seen)
    assert ops.count("UpdateService") == len(SERVICES), seen
    first_update = ops.index("UpdateService")
    assert first_update < last(ops, "CreateListener"), seen
    for service in SERVICES:  # each ECS service (named as its entry) after its own listener
        assert seen.index(("CreateListener", service)) < seen.index(("UpdateService", service)), seen


def test_the_alarms_and_the_dashboard_are_written_beside_the_routing_steps(aws, model):
    """apply.ASIDE: the alarms and the dashboard name only the pool's load balancers and the API, so they are written
    on a thread of their own while the ELB chains run, not after the deployment: the first PutMetricAlarm comes
    before the last CreateListener, and CloudWatch's 3 a second is off the pass's path."""
    w, clients = world(aws, Pacer(TIGHT))
    seen: list[tuple[str, str]] = []

    def record(model=None, **_):
        seen.append((model.name, threading.current_thread().name))

    for event in ("elastic-load-balancing-v2.CreateListener", "monitoring.PutMetricAlarm", "monitoring.PutDashboard",
                  "api-gateway.CreateDeployment"):
        clients.elbv2.meta.events.register(f"before-call.{event}", record)
        clients.cloudwatch.meta.events.register(f"before-call.{event}", record)
        clients.apigateway.meta.events.register(f"before-call.{event}", record)
    ops = routed(w, clients, model, seen)
    assert aws_model.refusals() == {}
    assert {"PutMetricAlarm", "PutDashboard", "CreateDeployment"} <= set(ops), seen
    assert ops.index("PutMetricAlarm") < last(ops, "CreateListener"), seen
    assert {thread for op, thread in seen if op.startswith("Put")} == {"portico-aside_0"}, seen


def test_a_chunks_ecs_services_are_attached_side_by_side(aws, model):
    """kinds/ecs._attach_chunk: the 10 attachments, one chunk (fewer than LEASE_BATCH), are made on several threads
    under one lease transaction, not one UpdateService after another, and within ECS's paced rate."""
    w, clients = world(aws, Pacer(TIGHT))
    threads: list[str] = []
    clients.ecs.meta.events.register("before-call.ecs.UpdateService",
                                     lambda **_: threads.append(threading.current_thread().name))
    model()
    outcome = Reconciler(clients, w.settings).run(SERVICES)
    assert {s: st.status for s, st in outcome.statuses.items()} == dict.fromkeys(SERVICES, "READY")
    assert aws_model.refusals() == {}
    assert len(threads) == len(SERVICES) and len(set(threads)) > 1, threads
    assert all(t.startswith("portico-ecs") for t in threads), threads


def test_each_chain_starts_once_its_own_reservation_is_made_not_every_services(aws, model, monkeypatch):
    """apply.GATES: the reservations ahead of the ELB chains go a transaction at a time on a thread of their own, and
    a service's chain starts as soon as its own transaction is made: the first CreateTargetGroup comes before the
    last reservation transaction, and never before its own service's."""
    monkeypatch.setitem(apply.CHUNKS, "reserve", 2)  # 5 transactions of 2 services
    w, clients = world(aws, Pacer(TIGHT))
    seen: list[tuple[str, frozenset[str]]] = []

    def record(params=None, model=None, **_):
        if model.name == "CreateTargetGroup":
            tags = {t["Key"]: t["Value"] for t in params["Tags"]}
            seen.append(("CreateTargetGroup", frozenset({tags["portico:service"]})))
            return
        keys = [next(iter(a.values()))["Key" if "Key" in next(iter(a.values())) else "Item"]["pk"]["S"]
                for a in params["TransactItems"]]
        if any(k.startswith("port#") for k in keys):  # a reservation (a claim names no port)
            seen.append(("reserve", frozenset(k.removeprefix("svc#") for k in keys if k.startswith("svc#"))))

    clients.elbv2.meta.events.register("before-parameter-build.elastic-load-balancing-v2.CreateTargetGroup", record)
    clients.dynamodb.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems", record)
    ops = routed(w, clients, model, seen)
    assert ops.count("reserve") == 5 and ops.count("CreateTargetGroup") == len(SERVICES), seen
    assert ops.index("CreateTargetGroup") < last(ops, "reserve"), seen
    for service in SERVICES:
        reserved = next(i for i, (op, names) in enumerate(seen) if op == "reserve" and service in names)
        assert reserved < seen.index(("CreateTargetGroup", frozenset({service}))), seen
