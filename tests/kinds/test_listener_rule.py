"""ALB mode's listener rules, against the moto server: one internal ALB, its HTTP listener (fixed 404), a listener
rule and an HTTP target group per service, integrations through the VPC link v2 naming the ALB; the rules-per-ALB
quota refused with a clear status; foreign rules untouched; drift put back; offboarding removes exactly what
portico created. A rule's lost priority is in test_listener.py (both modes), its reservation in test_reservation.py.
"""

from __future__ import annotations

import pytest

from portico.kinds import listener_rule
from portico.reconcile import ALL
from portico.settings import SERVICE_HEADER
from portico.slots import header_value
from portico.state import TOKEN_TAG, StateTable, token
from portico_cli.local_aws.emulator.elbv2 import RULES
from tests.conftest import spec_item
from tests.kinds.conftest import MODES, integrations, local_stack, rules

SERVICES = ("orders", "users", "catalog")


def header_of(rule: dict, raw: bool = False) -> list[str]:
    """The services a rule's header condition names (the value is `<service>.<token>`; raw: the values)."""
    return [v if raw else v.split(".")[0] for c in rule["Conditions"] if c["Field"] == "http-header"
            for v in c["HttpHeaderConfig"]["Values"]]


def onboard(reg, reconciler, *names, **kw):
    for name in names:
        reg.put_spec(spec_item(name, **kw))
    return reconciler.run(ALL)


def test_services_get_a_rule_and_target_group_each_no_port(alb):
    s, clients, reg, reconciler = alb
    assert s.backend == "alb" and s.load_balancer_arns and s.alb_listener_arn
    outcome = onboard(reg, reconciler, *SERVICES)
    assert {n: st.status for n, st in outcome.statuses.items()} == {n: "READY" for n in SERVICES}
    assert all(st.listener_port is None and "rule priority" in st.message for st in outcome.statuses.values())
    have = rules(clients, s)
    assert sorted(int(r["Priority"]) for r in have) == [1, 2, 3], "unique priorities, lowest first"
    secret = StateTable(clients.dynamodb, s.state_table).snapshot().header_secret
    by_service = {header_of(r)[0]: r for r in have}
    assert set(by_service) == set(SERVICES)
    listeners = clients.elbv2.describe_listeners(LoadBalancerArn=s.load_balancer_arns[0])["Listeners"]
    assert [li["Port"] for li in listeners] == [80], "no listener port per service"
    state = StateTable(clients.dynamodb, s.state_table).snapshot()
    assert not state.ports and sorted(state.priorities.values()) == sorted(SERVICES)
    for name, rule in by_service.items():
        assert [c["HttpHeaderConfig"]["HttpHeaderName"] for c in rule["Conditions"]] == [SERVICE_HEADER]
        value = header_value(name, secret)
        assert header_of(rule, raw=True) == [value] and len(value) == len(name) + 33
        tags = {t["Key"]: t["Value"] for t in
                clients.elbv2.describe_tags(ResourceArns=[rule["RuleArn"]])["TagDescriptions"][0]["Tags"]}
        assert tags == {"portico:stack": s.stack, "portico:service": name,
                        TOKEN_TAG: token(state.ledgers[name].nonce, listener_rule.RULE)}  # only its ledger knows
        tg_arn = rule["Actions"][0]["TargetGroupArn"]
        tg = clients.elbv2.describe_target_groups(TargetGroupArns=[tg_arn])["TargetGroups"][0]
        assert (tg["Protocol"], tg["TargetType"], tg["HealthCheckProtocol"]) == ("HTTP", "ip", "HTTP")
        assert tg_arn == outcome.statuses[name].target_group_arn
        ecs = clients.ecs.describe_services(cluster="demo", services=[name])["services"][0]
        assert [lb["targetGroupArn"] for lb in ecs["loadBalancers"]] == [tg_arn]
        for path in (f"/{name}", f"/{name}/{{proxy+}}"):
            for integ in integrations(clients, s, path):
                assert integ["connectionId"] == s.vpc_link_v2_id
                assert integ["integrationTarget"] == s.load_balancer_arns[0]
                assert integ["requestParameters"][f"integration.request.header.{SERVICE_HEADER}"] == \
                    f"'{header_value(name, secret)}'"
                assert integ["uri"].endswith(":80/{proxy}")  # v2: the path is always mapped (docs/modes.md)
    again = reconciler.run(ALL)
    assert not again.plan.steps, [str(st) for st in again.plan.steps]


def test_a_deleted_or_changed_rule_is_put_back_and_a_foreign_rule_is_untouched(alb):
    s, clients, reg, reconciler = alb
    onboard(reg, reconciler, "orders", "users")
    elbv2 = clients.elbv2
    foreign_tg = elbv2.create_target_group(Name="someone-else", Protocol="HTTP", Port=80, VpcId=s.vpc_id,
                                           TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    foreign = elbv2.create_rule(ListenerArn=s.alb_listener_arn, Priority=3, Actions=[
        {"Type": "forward", "TargetGroupArn": foreign_tg}], Conditions=[
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/legacy/*"]}}])["Rules"][0]
    by_service = {header_of(r)[0]: r for r in rules(clients, s) if header_of(r)}
    elbv2.delete_rule(RuleArn=by_service["orders"]["RuleArn"])
    elbv2.modify_rule(RuleArn=by_service["users"]["RuleArn"], Actions=[{"Type": "forward",
                                                                        "TargetGroupArn": foreign_tg}])
    outcome = reconciler.run(ALL)
    assert {st.status for st in outcome.statuses.values()} == {"READY"}
    assert sorted(st.action for st in outcome.plan.steps) == ["create_rule", "modify_rule"]
    now = {r["RuleArn"]: r for r in rules(clients, s)}
    assert now[foreign["RuleArn"]]["Conditions"] == foreign["Conditions"], "the foreign rule is untouched"
    assert now[foreign["RuleArn"]]["Actions"][0]["TargetGroupArn"] == foreign_tg
    repaired = {header_of(r)[0]: r for r in now.values() if header_of(r)}
    assert int(repaired["orders"]["Priority"]) == 1, "put back at its reserved priority"
    assert repaired["users"]["Actions"][0]["TargetGroupArn"] == outcome.statuses["users"].target_group_arn
    # A new service skips the foreign rule's priority.
    onboard(reg, reconciler, "catalog")
    assert int({header_of(r)[0]: r for r in rules(clients, s) if header_of(r)}["catalog"]["Priority"]) == 4


def test_offboarding_removes_exactly_what_portico_created(alb):
    s, clients, reg, reconciler = alb
    onboard(reg, reconciler, "orders", "users")
    foreign = clients.elbv2.create_rule(ListenerArn=s.alb_listener_arn, Priority=50, Actions=[
        {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "418"}}], Conditions=[
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/tea/*"]}}])["Rules"][0]
    reg.delete("orders")
    outcome = reconciler.run(ALL)
    assert outcome.removed == ["orders"]
    left = {r["RuleArn"] for r in rules(clients, s)}
    assert foreign["RuleArn"] in left and len(left) == 2
    assert [header_of(r) for r in rules(clients, s) if header_of(r)] == [["users"]]
    names = {tg["TargetGroupName"] for tg in clients.elbv2.describe_target_groups()["TargetGroups"]}
    assert not any(n.startswith("portico-orders") for n in names)
    assert any(n.startswith("portico-users") for n in names)
    paths = {r["path"] for r in clients.apigateway.get_resources(restApiId=s.rest_api_id, limit=500)["items"]}
    assert "/orders" not in paths and "/orders/{proxy+}" not in paths and "/users" in paths
    ecs = clients.ecs.describe_services(cluster="demo", services=["orders"])["services"][0]
    assert ecs["loadBalancers"] == []
    state = StateTable(clients.dynamodb, s.state_table).snapshot()
    assert "orders" not in state.ledgers and sorted(state.priorities.values()) == ["users"]
    # The priority freed is taken again by the next service.
    onboard(reg, reconciler, "catalog")
    assert StateTable(clients.dynamodb, s.state_table).snapshot().priorities[(s.alb_listener_arn, 1)] == "catalog"


def test_the_rule_past_the_alb_quota_fails_with_a_clear_status(aws, monkeypatch):
    s, clients, reg, reconciler = local_stack(aws, **MODES["alb"], max_load_balancers=1)  # a pool that cannot grow
    elbv2 = clients.elbv2
    # 99 foreign rules (one on a second, foreign listener: every listener of the ALB counts), then 2 services.
    other = elbv2.create_listener(LoadBalancerArn=s.load_balancer_arns[0], Protocol="HTTP", Port=8080,
                                  DefaultActions=[{"Type": "fixed-response",
                                                   "FixedResponseConfig": {"StatusCode": "404"}}])["Listeners"][0]
    for i in range(1, 100):
        elbv2.create_rule(ListenerArn=other["ListenerArn"] if i == 1 else s.alb_listener_arn, Priority=i + 100,
                          Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
                          Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": [f"/f{i}/*"]}}])
    outcome = onboard(reg, reconciler, "orders", "users")
    assert outcome.statuses["orders"].status == "READY"
    failed = outcome.statuses["users"]
    assert failed.status == "FAILED"
    assert failed.message.startswith("listenerRule: ") and "Rules per Application Load Balancer" in failed.message
    assert "100" in failed.message
    with pytest.raises(elbv2.exceptions.TooManyRulesException):  # the emulator refuses the 101st as AWS does
        elbv2.create_rule(ListenerArn=s.alb_listener_arn, Priority=999, Actions=[
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}], Conditions=[
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/x/*"]}}])
    # Offboarding one frees its rule and priority: the refused service is served on the next pass.
    reg.delete("orders")
    reconciler.run(ALL)
    assert reconciler.run(["users"]).statuses["users"].status == "READY"


def test_the_emulators_refusal_reaches_the_status(alb, monkeypatch):
    s, clients, reg, reconciler = alb
    monkeypatch.setenv(RULES, "2")  # the emulator's quota lowered below the planner's: AWS's refusal is reported
    outcome = onboard(reg, reconciler, *SERVICES)
    failed = [n for n, st in outcome.statuses.items() if st.status == "FAILED"]
    assert len(failed) == 1 and sum(st.status == "READY" for st in outcome.statuses.values()) == 2
    assert "TooManyRules" in outcome.statuses[failed[0]].message and len(rules(clients, s)) == 2
    with pytest.raises(clients.elbv2.exceptions.TooManyRulesException):
        clients.elbv2.create_rule(ListenerArn=s.alb_listener_arn, Priority=77, Actions=[
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}], Conditions=[
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/x/*"]}}])


def test_doctor_walks_the_alb_links_and_names_a_deleted_rule(alb):
    from portico.ops.doctor import Doctor

    s, clients, reg, reconciler = alb
    onboard(reg, reconciler, "orders")
    links = {c.link: c for c in Doctor(clients, s).run("orders")}
    assert "port reserved" not in links and "listener on the NLB" not in links
    for link in ("rule priority reserved", "listener rule on the ALB", "target group",
                 "ECS service has the target group", "API resource, methods, VPC_LINK integration"):
        assert links[link].ok, (link, links[link].detail)
    assert links["listener rule on the ALB"].detail == f"priority 1, {SERVICE_HEADER}: orders.<token>"
    [rule] = rules(clients, s)
    clients.elbv2.delete_rule(RuleArn=rule["RuleArn"])
    links = {c.link: c for c in Doctor(clients, s).run("orders")}
    assert not links["listener rule on the ALB"].ok and "portico reconcile --service orders" in \
        links["listener rule on the ALB"].fix
    assert not links["target group"].ok and links["rule priority reserved"].ok
