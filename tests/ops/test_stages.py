"""Promotion dev → qa → prod, rollback and history: deployment ids on the moto server."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from samtranslator.yaml_helper import yaml_parse

from portico.clients import Clients
from portico.errors import ProductError
from portico.ops.stages import Event, Stages, pointer_stack
from portico.reconcile import ALL, Reconciler
from portico.registry import Registry
from portico_cli.local_aws import account as local
from portico_cli.local_aws.stack import ROOT
from tests.conftest import shaped_stack, spec_item


def initial_deployment() -> str:
    """The description of the deployment template.yaml starts every stage on (its InitialDeployment)."""
    template = yaml_parse((ROOT / "template.yaml").read_text())
    return template["Resources"]["InitialDeployment"]["Properties"]["Description"]


def deployment_of(clients, stack, stage):
    return clients.apigateway.get_stage(restApiId=stack.rest_api_id, stageName=stage)["deploymentId"]


def all_deployments(clients, stack):
    return {d["id"] for d in clients.apigateway.get_deployments(restApiId=stack.rest_api_id, limit=500)["items"]}


@pytest.fixture
def stages(clients, stack):
    return Stages(clients.apigateway, clients.dynamodb, stack)


@pytest.fixture
def reconciler(clients, stack):
    """Deployments one second apart at least: their order is their createdDate (seconds), as on AWS, where
    CreateDeployment allows one per 5 s per account."""
    from portico.reconcile import Reconciler

    return Reconciler(clients, stack.with_(deploy_interval_seconds=1.0))


def onboard(clients, stack, reconciler, service):
    Registry(clients.dynamodb, stack.registry_table).put_spec(spec_item(service))
    return reconciler.run(ALL).deployment_id


def test_pointer_stack_pops_rolled_back_deployments():
    ev = [Event(1, "deploy", "a"), Event(2, "promote", "b"), Event(3, "promote", "c"), Event(4, "rollback", "b"),
          Event(5, "rollback", "a"), Event(6, "promote", "d")]
    assert pointer_stack(ev[:3]) == ["a", "b", "c"]
    assert pointer_stack(ev[:4]) == ["a", "b"]
    assert pointer_stack(ev[:5]) == ["a"]
    assert pointer_stack(ev) == ["a", "d"]


def test_promote_points_the_target_at_the_source_deployment(clients, stack, reconciler, stages, cli):
    first = onboard(clients, stack, reconciler, "orders")
    qa_before = deployment_of(clients, stack, "qa")
    before = all_deployments(clients, stack)

    code, out, err = cli("promote", "--from", "dev", "--to", "qa")
    assert code == 0, err
    assert deployment_of(clients, stack, "qa") == first == deployment_of(clients, stack, "dev")
    assert all_deployments(clients, stack) == before  # no new deployment, none deleted
    assert f"qa → deployment {first} (from dev)" in out and "portico: orders" in out
    desc = clients.apigateway.get_stage(restApiId=stack.rest_api_id, stageName="qa")["description"]
    assert desc.startswith(f"promoted from dev ({first}): ") and "portico: orders" in desc

    second = onboard(clients, stack, reconciler, "users")
    code, out, _ = cli("promote", "--from", "dev", "--to", "qa", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["promoted"] is True and doc["deploymentId"] == second
    assert (doc["from"], doc["to"]) == ("dev", "qa") and [d["id"] for d in doc["brought"]] == [second]
    assert "portico: users" in doc["brought"][0]["description"]
    assert stages.promote("dev", "qa") == (None, [])  # already there
    code, out, _ = cli("promote", "--from", "dev", "--to", "qa", "--json")
    assert code == 0 and json.loads(out) == {"from": "dev", "to": "qa", "promoted": False, "deploymentId": None,
                                             "brought": []}

    history = stages.history("qa")
    assert [(e.action, e.deployment_id) for e in history] == [("deploy", qa_before), ("promote", first),
                                                               ("promote", second)]


def test_rollback_returns_to_the_previous_deployment_and_keeps_every_deployment(clients, stack, reconciler, stages,
                                                                                cli):
    prod0 = deployment_of(clients, stack, "prod")
    first = onboard(clients, stack, reconciler, "orders")
    stages.promote("dev", "prod")
    second = onboard(clients, stack, reconciler, "users")
    stages.promote("dev", "prod")
    assert deployment_of(clients, stack, "prod") == second
    before = all_deployments(clients, stack)

    code, out, _ = cli("rollback", "--stage", "prod")
    assert code == 0 and f"rolled back from {second} to {first}" in out
    assert deployment_of(clients, stack, "prod") == first
    code, out, _ = cli("rollback", "--stage", "prod", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["stage"] == "prod" and doc["deploymentId"] == prod0
    assert f"rolled back from {first} to {prod0}" in doc["description"]
    assert deployment_of(clients, stack, "prod") == prod0
    with pytest.raises(ProductError, match="--stage: 'prod' has no earlier deployment"):
        stages.rollback("prod")
    assert all_deployments(clients, stack) == before  # the deployments stages pointed to are all still there

    code, out, _ = cli("history", "--stage", "prod")
    assert code == 0 and out.count("rollback") == 2 and f"{prod0} (current)" in out
    assert deployment_of(clients, stack, "dev") == second  # rolling prod back never touches dev


def test_history_of_the_reconciled_stage_lists_every_reconcile_deployment(clients, stack, reconciler, stages):
    start = deployment_of(clients, stack, "dev")
    assert [e.deployment_id for e in stages.history("dev")] == [start]
    first = onboard(clients, stack, reconciler, "orders")
    clients.apigateway.create_deployment(restApiId=stack.rest_api_id, description="by hand, no stage")
    second = onboard(clients, stack, reconciler, "users")
    assert [(e.deployment_id, e.description) for e in stages.history("dev")] == [
        (start, initial_deployment()), (first, "portico: orders"), (second, "portico: users")]
    stages.rollback("dev")
    assert deployment_of(clients, stack, "dev") == first


def test_history_records_a_deployment_made_elsewhere(clients, stack, stages):
    start = deployment_of(clients, stack, "qa")
    assert [(e.action, e.deployment_id) for e in stages.history("qa")] == [("deploy", start)]
    dep = clients.apigateway.create_deployment(restApiId=stack.rest_api_id, description="by hand")["id"]
    clients.apigateway.update_stage(restApiId=stack.rest_api_id, stageName="qa", patchOperations=[
        {"op": "replace", "path": "/deploymentId", "value": dep}])
    assert [(e.action, e.deployment_id) for e in stages.history("qa")] == [("deploy", start), ("deploy", dep)]
    stages.rollback("qa")
    assert deployment_of(clients, stack, "qa") == start


BAD_ARGS = [
    (("promote", "--from", "dev", "--to", "staging"), "--to: stage 'staging' is not one of this stack's stages "
                                                      "(dev, qa, prod)"),
    (("promote", "--from", "test", "--to", "qa"), "--from: stage 'test' is not one of this stack's stages"),
    (("promote", "--from", "qa", "--to", "qa"), "--to: 'qa' is the --from stage"),
    (("promote", "--from", "qa", "--to", "dev"), "--to: 'dev' is the stage reconciles deploy to"),
    (("rollback", "--stage", "nope"), "--stage: stage 'nope' is not one of this stack's stages"),
    (("rollback", "--stage", "qa"), "--stage: 'qa' has no earlier deployment"),
    (("history", "--stage", "nope"), "--stage: stage 'nope' is not one of this stack's stages"),
]


def test_bad_stage_arguments_are_specific_errors(cli, clients, stack):
    before = {s: deployment_of(clients, stack, s) for s in stack.stages}
    for args, message in BAD_ARGS:  # one stack for all: none of them may change a stage
        code, _, err = cli(*args)
        assert code == 4 and message in " ".join(err.split()), args
    assert {s: deployment_of(clients, stack, s) for s in stack.stages} == before


def test_a_vpc_link_leaves_the_pool_after_promotion_and_prune_forgets_its_deployments(aws):
    """Lowering the pool from 2 NLBs to 1 in the order docs/deploy.md gives: API Gateway refuses to delete the
    link while a stage serves a deployment through it; once every stage is promoted past it, the link goes,
    prune deletes the deployments through it, and no rollback can return a stage to it."""
    pool = shaped_stack(aws, load_balancers=2).with_(port_range=(10000, 10000), deploy_interval_seconds=1.0)
    clients = Clients.create(pool, boto3_session=local.session(aws))
    reconciler, stages = Reconciler(clients, pool), Stages(clients.apigateway, clients.dynamodb, pool)
    registry = Registry(clients.dynamodb, pool.registry_table)
    for service in ("orders", "users"):  # one port per NLB: orders on NLB 1, users on NLB 2
        registry.put_spec(spec_item(service))
    both = reconciler.run(ALL).deployment_id
    assert registry.get("users")["status"] == "READY"
    stages.promote("dev", "qa")
    stages.promote("qa", "prod")
    stages.rollback("prod")
    stages.promote("qa", "prod")
    link2 = pool.vpc_link_ids[1]

    registry.delete("users")  # NLB 2 is to go: its service leaves first
    without = reconciler.run(ALL).deployment_id
    with pytest.raises(ClientError, match=rf"Vpc link '{link2}', is referenced in \[.*:prod, .*:qa\]"):
        clients.apigateway.delete_vpc_link(vpcLinkId=link2)  # qa and prod still serve `both`
    stages.promote("dev", "qa")
    stages.promote("qa", "prod")
    assert both in all_deployments(clients, pool)  # prod and qa can still roll back to it
    clients.apigateway.delete_vpc_link(vpcLinkId=link2)  # the stack update that lowers LoadBalancerCount

    smaller = Stages(clients.apigateway, clients.dynamodb, pool.with_(load_balancer_arns=pool.load_balancer_arns[:1],
                                                                      vpc_link_ids=pool.vpc_link_ids[:1]))
    assert both in smaller.prune()
    assert both not in all_deployments(clients, pool) and without in all_deployments(clients, pool)
    for stage in ("dev", "qa", "prod"):
        assert both not in [e.deployment_id for e in smaller.history(stage)]
    assert smaller.rollback("prod").deployment_id != both
    assert smaller.prune() == []  # what is left, a stage serves or can return to
