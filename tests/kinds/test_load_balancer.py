"""The pool grows itself, against the moto server: a stack whose load balancers are full gets the next one (an
NLB, or an ALB and its listener), tagged and recorded in the state table; the services that did not fit are
PENDING "load balancer provisioning" while AWS provisions it, routed on it in the same pass once it is active
(or by the next pass, when AWS takes longer than the pass waits); an added load balancer left empty is
deleted (the template's never are); MaxLoadBalancers reached is a FAILED that names the quota and the fix."""

from __future__ import annotations

from dataclasses import replace

import pytest

from portico.clients import Clients
from portico.kinds.load_balancer import member_name
from portico.ops import graph
from portico.ops.doctor import Doctor
from portico.reconcile import ALL, Reconciler
from portico.registry import Registry
from portico.state import TOKEN_TAG, StateTable, token
from portico_cli.local_aws import account as local
from portico_cli.local_aws.emulator.elbv2_pool import PROVISIONING
from tests.conftest import shaped_stack, spec_item
from tests.metering import CallMeter


def stack(aws, **changes):
    base = shaped_stack(aws, vpc_links="v2", **({"backend": "alb"} if changes.get("backend") == "alb" else {}))
    s = replace(base, **changes)
    clients = Clients.create(s, boto3_session=local.session(s.endpoint_url))
    return s, clients, Registry(clients.dynamodb, s.registry_table), Reconciler(clients, s, sleep=lambda _: None)


def fill(clients, s, listeners: int) -> None:
    """Someone else's listeners on the pool's first NLB (they count toward its 50, as any listener does)."""
    tg = clients.elbv2.create_target_group(Name="foreign", Protocol="TCP", Port=80, VpcId=s.vpc_id,
                                           TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    for i in range(listeners):
        clients.elbv2.create_listener(LoadBalancerArn=s.load_balancer_arns[0], Protocol="TCP", Port=20000 + i,
                                      DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])


def targets(clients, s, path) -> set[str]:
    items = clients.apigateway.get_resources(restApiId=s.rest_api_id, embed=["methods"], limit=500)["items"]
    [res] = [r for r in items if r["path"] == path]
    return {m["methodIntegration"]["integrationTarget"] for m in res["resourceMethods"].values()}


def statuses(outcome) -> dict[str, str]:
    return {name: st.status for name, st in outcome.statuses.items()}


def added(clients, s) -> dict[str, dict]:
    return StateTable(clients.dynamodb, s.state_table).snapshot().pool


def test_a_full_nlb_pool_grows_routes_the_waiting_service_and_deletes_the_emptied_nlb(aws, monkeypatch):
    s, clients, reg, reconciler = stack(aws, max_load_balancers=2)
    monkeypatch.setenv(PROVISIONING, "3600")  # AWS takes minutes; here, until the test lets it go
    fill(clients, s, 49)  # room for one more listener
    for name in ("orders", "users"):
        reg.put_spec(spec_item(name))
    for _ in range(2):  # the second pass waits for the same NLB: it does not add another
        outcome = reconciler.run(ALL)
        assert statuses(outcome) == {"orders": "READY", "users": "PENDING"}
        assert "load balancer provisioning" in outcome.statuses["users"].message
        assert "is provisioning" in outcome.statuses["users"].message
    [record] = added(clients, s).values()
    name = member_name(s.stack, 2)
    assert record["name"] == name and record["index"] == 2 and record["arn"]
    [lb] = clients.elbv2.describe_load_balancers(Names=[name])["LoadBalancers"]
    assert (lb["Type"], lb["Scheme"], lb["State"]["Code"]) == ("network", "internal", "provisioning")
    tags = {t["Key"]: t["Value"] for t in clients.elbv2.describe_tags(
        ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0]["Tags"]}
    assert tags["portico:stack"] == s.stack and tags[TOKEN_TAG] == token(record["nonce"], name)

    monkeypatch.setenv(PROVISIONING, "0")  # active: the next pass routes the service on it
    second = reconciler.run(ALL)
    assert statuses(second) == {"orders": "READY", "users": "READY"}
    assert targets(clients, s, "/users") == {lb["LoadBalancerArn"]}
    assert targets(clients, s, "/orders") == {s.load_balancer_arns[0]}
    [listener] = clients.elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert listener["Port"] == second.statuses["users"].listener_port
    checks = {c.link: c for c in Doctor(clients, s).run("users")}  # doctor and the route table see the member too
    for link in ("VPC link", "API resource, methods, VPC_LINK integration"):
        assert checks[link].ok, (link, checks[link].detail)
    assert {r.service: r.port for r in graph.rows(clients, s)}["users"] == f"{name}:{listener['Port']}"

    reg.delete("users")
    reconciler.run(ALL)
    assert not added(clients, s)
    arns = {x["LoadBalancerArn"] for x in clients.elbv2.describe_load_balancers()["LoadBalancers"]}
    assert arns == {s.load_balancer_arns[0]}, "the added NLB is deleted once empty; the template's stays"


def test_an_nlb_active_within_the_pass_routes_its_waiting_service_in_that_pass(aws, monkeypatch):
    s, clients, reg, reconciler = stack(aws, max_load_balancers=2)
    monkeypatch.setenv(PROVISIONING, "0")  # active at once: the pass's own wait sees it active
    fill(clients, s, 49)
    for name in ("orders", "users"):
        reg.put_spec(spec_item(name))
    outcome = reconciler.run(ALL)
    assert statuses(outcome) == {"orders": "READY", "users": "READY"}, outcome.statuses["users"].message
    [record] = added(clients, s).values()
    assert targets(clients, s, "/users") == {record["arn"]} and not outcome.retry
    assert reconciler.run(ALL).plan.steps == []  # and nothing is left for the next pass


@pytest.mark.parametrize("routed_first", [False, True])
def test_the_round_after_one_that_only_added_a_load_balancer_keeps_its_read_of_the_api(aws, monkeypatch,
                                                                                     routed_first):
    """Every service of the pass waits for the load balancer it adds: that round changes nothing of the API, so the
    round that routes them on it reads the pool and the state again but keeps the API's resources, authorizer,
    stage and alarms as read (one GetAuthorizers in the pass, not two). A round that routed a service as well
    changed the API: the next reads it again."""
    s, clients, reg, reconciler = stack(aws, max_load_balancers=2)
    monkeypatch.setenv(PROVISIONING, "0")
    fill(clients, s, 49 if routed_first else 50)
    for name in ("orders", "users"):
        reg.put_spec(spec_item(name))
    meter = CallMeter([clients.apigateway])
    outcome = reconciler.run(ALL)
    assert statuses(outcome) == {"orders": "READY", "users": "READY"}, outcome.statuses
    assert meter.calls[("apigateway", "GetAuthorizers")] == (2 if routed_first else 1), meter.calls


def test_a_full_pool_at_max_load_balancers_fails_the_service_naming_the_quota_and_the_fix(aws):
    s, clients, reg, reconciler = stack(aws, max_load_balancers=1)
    fill(clients, s, 50)
    reg.put_spec(spec_item("orders"))
    st = reconciler.run(ALL).statuses["orders"]
    assert st.status == "FAILED"
    assert "every load balancer of the pool (1 of MaxLoadBalancers 1) has 50 listeners" in st.message
    assert '"Listeners per Network Load Balancer"' in st.message and "raise MaxLoadBalancers" in st.message
    assert not added(clients, s)


def test_alb_mode_grows_past_the_rules_quota_with_an_alb_and_its_listener_up_to_max_load_balancers(aws):
    s, clients, reg, reconciler = stack(aws, backend="alb", rules_per_load_balancer=2, max_load_balancers=2)
    services = ("sa", "sb", "sc", "sd", "se")
    for name in services:
        reg.put_spec(spec_item(name, ecsService="orders"))  # ≤ 5 target groups per ECS service
    first = reconciler.run(ALL)  # the ALB it added is active within the pass: it routes sc and sd on it at once
    assert statuses(first) == {"sa": "READY", "sb": "READY", "sc": "READY", "sd": "READY", "se": "FAILED"}
    assert "the pool is at MaxLoadBalancers (2)" in first.statuses["se"].message
    [record] = added(clients, s).values()
    assert record["type"] == "application" and record["listenerArn"]
    [listener] = clients.elbv2.describe_listeners(LoadBalancerArn=record["arn"])["Listeners"]
    assert (listener["Protocol"], listener["Port"], listener["DefaultActions"][0]["Type"]) == \
        ("HTTP", 80, "fixed-response")
    second = reconciler.run(ALL)
    assert statuses(second) == statuses(first)
    assert "every load balancer of the pool (2 of MaxLoadBalancers 2) has 2 rules" in second.statuses["se"].message
    assert targets(clients, s, "/sc") == {record["arn"]}
    rules = [r for r in clients.elbv2.describe_rules(ListenerArn=record["listenerArn"])["Rules"] if not r["IsDefault"]]
    assert sorted(r["Conditions"][0]["HttpHeaderConfig"]["Values"][0].split(".")[0] for r in rules) == ["sc", "sd"]
    for name in ("sc", "sd", "se"):
        reg.delete(name)
    reconciler.run(ALL)
    assert not added(clients, s)
    assert [lb["LoadBalancerArn"] for lb in clients.elbv2.describe_load_balancers()["LoadBalancers"]] == \
        list(s.load_balancer_arns)


def test_two_passes_adding_the_same_load_balancer_share_one_record_and_its_nonce(aws):
    s, clients, _, _ = stack(aws)
    state = StateTable(clients.dynamodb, s.state_table)
    first = state.add_pool_member({"name": "pt-x-2", "index": 2, "type": "network", "nonce": "one"})
    second = state.add_pool_member({"name": "pt-x-2", "index": 2, "type": "network", "nonce": "two"})
    assert first["nonce"] == second["nonce"] == "one" == state.snapshot().pool["pt-x-2"]["nonce"]


@pytest.mark.parametrize("stack_name", ["portico", "a" * 128, "internal-stack", "x--y"])
def test_an_added_load_balancers_name_keeps_aws_naming_rules(stack_name):
    name = member_name(stack_name, 12)
    assert len(name) <= 32 and not name.startswith("internal-") and not name.endswith("-")
    assert all(c.isalnum() or c == "-" for c in name) and name.endswith("-12")


def test_the_pool_is_read_in_one_call_with_its_added_members_and_apart_once_one_is_gone(aws):
    """DescribeLoadBalancers takes up to 20 ARNs: the template's load balancer and the ones portico added are one
    read a pass. One deleted outside portico fails that call (LoadBalancerNotFound): the pass reads them apart
    and still serves the rest of the pool."""
    s, clients, reg, reconciler = stack(aws, backend="alb", rules_per_load_balancer=1, max_load_balancers=2)
    for name in ("sa", "sb"):
        reg.put_spec(spec_item(name, ecsService="orders"))
    reconciler.run(ALL)  # sb waits for the ALB this pass adds
    assert statuses(reconciler.run(ALL)) == {"sa": "READY", "sb": "READY"}
    meter = CallMeter([clients.elbv2])
    reconciler.run(ALL)
    assert meter.calls[("elbv2", "DescribeLoadBalancers")] == 1
    [record] = added(clients, s).values()
    clients.elbv2.delete_load_balancer(LoadBalancerArn=record["arn"])
    meter.reset()
    assert reconciler.run(["sa"]).statuses["sa"].status == "READY"
    assert meter.calls[("elbv2", "DescribeLoadBalancers")] == 3  # the pool's call refused, then the two apart
