"""A batch onboarding's task definitions are read by apply, each at the head of its service's chain
(observed.read_ecs, kinds/ecs.check_container), and checked there as the plan checks a read one: a container that
does not map the port fails its service before anything is made for it."""

from __future__ import annotations

import pytest

from portico.observed import reads
from portico.reconcile import ALL
from portico.registry import Registry
from tests.conftest import spec_item


@pytest.fixture
def legacy(clients):
    """An ECS service on a bridge-mode task definition (no network configuration: AWS refuses one there)."""
    clients.ecs.register_task_definition(family="legacy", networkMode="bridge", containerDefinitions=[
        {"name": "web", "image": "web", "memory": 128, "portMappings": [{"containerPort": 8080, "hostPort": 0}]}])
    clients.ecs.create_service(cluster="demo", serviceName="legacy", taskDefinition="legacy", desiredCount=1)


def test_a_batchs_task_definitions_are_read_and_checked_in_its_chains(clients, stack, reconciler, meter, legacy,
                                                                        monkeypatch):
    monkeypatch.setattr(reads, "LATE_OVER", 1)  # 4 task definitions to read: more than observation reads itself
    reg = Registry(clients.dynamodb, stack.registry_table)
    for item in (spec_item("orders"), spec_item("users"), spec_item("catalog", containerPort=9999),
                 spec_item("legacy", containerPort=8080)):
        reg.put_spec(item)
    plan = reconciler.run(ALL, dry_run=True).plan
    assert sorted(st.service for st in plan.steps if st.action == "check_container") == [
        "catalog", "legacy", "orders", "users"]
    meter.reset()
    outcome = reconciler.run(ALL)

    assert {s: st.status for s, st in outcome.statuses.items()} == {
        "catalog": "FAILED", "legacy": "READY", "orders": "READY", "users": "READY"}
    assert reg.get("catalog")["statusMessage"].endswith(
        "containerPort: no container in task definition catalog:1 maps port 9999")
    assert meter.count("elbv2", "CreateTargetGroup") == 3 and meter.count("ecs", "DescribeTaskDefinition") == 4
    groups = {tg["TargetGroupName"]: tg for tg in clients.elbv2.describe_target_groups()["TargetGroups"]}
    kinds = {name.split("-")[1]: tg["TargetType"] for name, tg in groups.items()}
    assert kinds == {"orders": "ip", "users": "ip", "legacy": "instance"}  # none for catalog
    attached = clients.ecs.describe_services(cluster="demo", services=["legacy", "users"])["services"]
    assert [(lb["containerName"], lb["containerPort"]) for svc in attached for lb in svc["loadBalancers"]] == [
        ("web", 8080), ("app", 8080)]

    meter.reset()  # the task definitions apply read are kept, as observation's are
    again = reconciler.run(ALL)
    assert meter.count("ecs", "DescribeTaskDefinition") == 0
    assert again.statuses["catalog"].status == "FAILED" and not again.plan.steps


def test_a_small_pass_reads_its_task_definitions_before_the_plan(clients, stack, reconciler):
    reg = Registry(clients.dynamodb, stack.registry_table)
    reg.put_spec(spec_item("orders", containerPort=9999))
    plan = reconciler.run(ALL, dry_run=True).plan
    assert plan.failed == {"orders": "containerPort: no container in task definition orders:1 maps port 9999"}
    assert not plan.steps
