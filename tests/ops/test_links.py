"""`portico migrate-link` on the moto server: a stack with both kinds of VPC link moves every integration
from the v1 links to the v2 link (and back) in one pass with one deployment; again changes nothing; a pass
cut short after the choice was recorded is finished by the next reconcile."""

from __future__ import annotations

import pytest

from portico.clients import Clients
from portico.ops.links import migrate_link
from portico.reconcile import ALL, Reconciler
from portico.registry import Registry
from portico_cli.local_aws import account as local
from tests.conftest import shaped_stack, spec_item


@pytest.fixture
def both(aws):
    s = shaped_stack(aws, load_balancers=2, port_range=(10000, 10000), vpc_links="v1+v2")
    clients = Clients.create(s, boto3_session=local.session(s.endpoint_url))
    reg = Registry(clients.dynamodb, s.registry_table)
    for name in ("orders", "users"):
        reg.put_spec(spec_item(name))
    Reconciler(clients, s, sleep=lambda _: None).run(ALL)
    return s, clients


def links(clients, s) -> dict[str, tuple[str, str | None]]:
    items = clients.apigateway.get_resources(restApiId=s.rest_api_id, embed=["methods"], limit=500)["items"]
    return {f"{verb} {r['path']}": (m["methodIntegration"]["connectionId"], m["methodIntegration"].get(
        "integrationTarget")) for r in items for verb, m in (r.get("resourceMethods") or {}).items()
        if m.get("methodIntegration", {}).get("connectionType") == "VPC_LINK"}


def deployments(clients, s) -> int:
    return len(clients.apigateway.get_deployments(restApiId=s.rest_api_id, limit=500)["items"])


def test_migrate_to_v2_and_back_in_one_pass_each(both):
    s, clients = both
    before = links(clients, s)
    assert len(before) == 4 and {link for link, _ in before.values()} == set(s.vpc_link_ids)
    plan = migrate_link(Reconciler(clients, s, sleep=lambda _: None), "v2", dry_run=True).plan
    assert sorted(st.action for st in plan.steps) == ["deploy"] + ["put_integration"] * 4
    assert links(clients, s) == before, "--plan changes nothing"
    count = deployments(clients, s)
    outcome = migrate_link(Reconciler(clients, s, sleep=lambda _: None), "v2")
    assert not outcome.errors and deployments(clients, s) == count + 1
    after = links(clients, s)
    by_lb = dict(zip(s.vpc_link_ids, s.load_balancer_arns, strict=True))
    assert after == {k: (s.vpc_link_v2_id, by_lb[link]) for k, (link, _) in before.items()}
    again = migrate_link(Reconciler(clients, s, sleep=lambda _: None), "v2")
    assert again.plan.steps == [] and deployments(clients, s) == count + 1
    # The sweeper (a plain reconcile, settings still on v1) keeps the recorded choice.
    assert Reconciler(clients, s, sleep=lambda _: None).run(ALL).plan.steps == []
    migrate_link(Reconciler(clients, s, sleep=lambda _: None), "v1")
    assert links(clients, s) == before and deployments(clients, s) == count + 2


def test_a_migration_cut_short_is_finished_by_the_next_pass(both):
    s, clients = both
    r = Reconciler(clients, s, sleep=lambda _: None)
    r.state.set_link_version("v2")  # the choice is written, then the process died before any PutIntegration
    steps = Reconciler(clients, s).run(ALL, dry_run=True).plan.steps  # `portico plan` shows the rest
    assert {st.action for st in steps} == {"put_integration", "deploy"}
    Reconciler(clients, s, sleep=lambda _: None).run(ALL)
    assert {link for link, _ in links(clients, s).values()} == {s.vpc_link_v2_id}


def test_a_stack_without_the_other_link_is_refused_before_anything_changes(aws):
    s = shaped_stack(aws, vpc_links="v1")
    clients = Clients.create(s, boto3_session=local.session(s.endpoint_url))
    r = Reconciler(clients, s, sleep=lambda _: None)
    with pytest.raises(ValueError, match="PORTICO_VPC_LINK_V2_ID is empty"):
        migrate_link(r, "v2")
    assert r.state.link_version() is None


def test_the_command_refuses_a_stack_without_a_v2_link_and_plans_on_one_that_has_it(cli, stack):
    code, out, err = cli("migrate-link", "--to", "v2")
    assert code == 4 and "PORTICO_VPC_LINK_V2_ID is empty" in out + err
    code, out, err = cli("migrate-link", "--to", "v3", "--plan")
    assert code == 4 and "expected v1 or v2" in out + err


def test_every_stage_serving_the_old_links_is_named_with_what_to_run_first(both):
    """The migration deploys to dev; qa, promoted before it, still serves a deployment through the v1 links, and
    the stack update that deletes them would fail (AWS refuses to delete a VPC link in use). The command names
    qa and the steps in order; once qa is promoted, only the stack update is left. prod serves the template's
    first deployment, which routes no service."""
    from portico.ops.links import next_steps, stages_behind
    from portico.ops.stages import Stages

    s, clients = both
    stages = Stages(clients.apigateway, clients.dynamodb, s)
    stages.promote("dev", "qa")
    reconciler = Reconciler(clients, s, sleep=lambda _: None)
    assert stages_behind(reconciler, "v2") == {"qa": stages.stage("qa")["deploymentId"]}  # before: on v1 too
    migrate_link(reconciler, "v2")
    qa = stages.stage("qa")["deploymentId"]
    assert stages_behind(reconciler, "v2") == {"qa": qa}
    assert next_steps(s, {"qa": qa}, "v2") == [
        "portico promote --from dev --to qa", "update the stack with VpcLinkVersion=v2, passed explicitly "
        "(docs/modes.md)"]
    stages.promote("dev", "qa")
    assert stages_behind(reconciler, "v2") == {}
    assert next_steps(s, {}, "v2") == ["update the stack with VpcLinkVersion=v2, passed explicitly (docs/modes.md)"]


def test_a_replaced_v2_link_is_taken_up_by_migrate_link_which_names_the_stages_to_promote(aws):
    """A v2 link is immutable: new subnets or security groups replace it. With the new id in the settings (the
    stack's output after the update), migrate-link --to v2 re-points every integration in one pass; the stages
    promoted before still route through the old link until promoted."""
    import dataclasses

    from portico.ops.links import next_steps, stages_behind
    from portico.ops.stages import Stages

    s = shaped_stack(aws, load_balancers=1, vpc_links="v2")
    clients = Clients.create(s, boto3_session=local.session(s.endpoint_url))
    Registry(clients.dynamodb, s.registry_table).put_spec(spec_item("orders"))
    assert Reconciler(clients, s, sleep=lambda _: None).run(ALL).statuses["orders"].status == "READY"
    stages = Stages(clients.apigateway, clients.dynamodb, s)
    stages.promote("dev", "qa")
    v2 = local.session(aws).client("apigatewayv2", endpoint_url=aws)
    new = v2.create_vpc_link(Name="portico-pool-2", SubnetIds=s.extra["subnets"].split(","))["VpcLinkId"]
    s = dataclasses.replace(s, vpc_link_v2_id=new)
    reconciler = Reconciler(clients, s, sleep=lambda _: None)
    outcome = migrate_link(reconciler, "v2")
    assert not outcome.errors and {link for link, _ in links(clients, s).values()} == {new}
    qa = Stages(clients.apigateway, clients.dynamodb, s).stage("qa")["deploymentId"]
    assert stages_behind(reconciler, "v2") == {"qa": qa}
    assert next_steps(s, stages_behind(reconciler, "v2"), "v2")[0] == "portico promote --from dev --to qa"
    assert migrate_link(reconciler, "v2").plan.steps == []  # again: nothing left to move
