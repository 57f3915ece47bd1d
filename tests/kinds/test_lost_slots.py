"""A slot (a listener port, an ALB rule priority) taken by anyone between the plan and the create is given up and
another one chosen, in the same pass or the next; a foreign listener or rule is never touched."""

from __future__ import annotations

from portico.clients import Clients
from portico.reconcile import ALL, Reconciler
from portico.registry import Registry
from portico.state import StateTable
from portico_cli.local_aws import bootstrap as local
from tests.conftest import spec_item


def setup(aws, **kw):
    s = local.bootstrap(aws, **kw)
    clients = Clients.create(s, boto3_session=local.session(s.endpoint_url))
    return s, clients, Registry(clients.dynamodb, s.registry_table), Reconciler(clients, s, sleep=lambda _: None)


def before_first(clients: Clients, operation: str, do) -> None:
    """Run `do()` (someone else's call) just before portico's first `operation` of elbv2."""
    done = []

    def hook(event_name: str, **_):
        if event_name.endswith(f".{operation}") and not done:
            done.append(True)
            do()

    clients.elbv2.meta.events.register("before-call", hook)


def foreign_target_group(clients: Clients, s, protocol: str = "TCP") -> str:
    return clients.elbv2.create_target_group(Name="team-x", Protocol=protocol, Port=80, VpcId=s.vpc_id,
                                             TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]


def test_a_port_lost_to_a_foreign_listener_is_chosen_again(aws):
    s, clients, reg, reconciler = setup(aws)
    lb = s.load_balancer_arns[0]
    other = StateTable(clients.dynamodb, s.state_table)  # the foreign listener comes after the reservation

    def foreign_listener():
        assert other.snapshot().ports.get((lb, 10000)) == "orders"
        return clients.elbv2.create_listener(LoadBalancerArn=lb, Protocol="TCP", Port=10000, DefaultActions=[
            {"Type": "forward", "TargetGroupArn": foreign_target_group(clients, s)}])["Listeners"][0]["ListenerArn"]

    before_first(clients, "CreateListener", foreign_listener)
    reg.put_spec(spec_item("orders"))
    outcome = reconciler.run(ALL)
    st = outcome.statuses["orders"]
    assert (st.status, st.listener_port) == ("READY", 10001), st
    listeners = {li["Port"]: li for li in clients.elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"]}
    assert set(listeners) == {10000, 10001}
    assert listeners[10000]["DefaultActions"][0]["TargetGroupArn"].split("/")[-2] == "team-x"  # untouched
    snap = StateTable(clients.dynamodb, s.state_table).snapshot()
    assert snap.ports == {(lb, 10001): "orders"}  # the lost port is released
    assert reconciler.run(ALL).plan.steps == []  # converged


def test_a_reserved_port_a_foreign_listener_took_is_given_up_on_the_next_pass(aws):
    """The state an older pass left: the reservation holds a port where a foreign listener now sits."""
    s, clients, reg, reconciler = setup(aws)
    lb = s.load_balancer_arns[0]
    reg.put_spec(spec_item("orders"))
    reconciler.run(ALL)
    mine = {li["Port"]: li["ListenerArn"] for li in clients.elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"]}
    clients.elbv2.delete_listener(ListenerArn=mine[10000])  # someone removes portico's listener ...
    foreign = clients.elbv2.create_listener(LoadBalancerArn=lb, Protocol="TCP", Port=10000, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": foreign_target_group(clients, s)}])["Listeners"][0]["ListenerArn"]
    st = reconciler.run(ALL).statuses["orders"]  # ... and puts theirs on its port
    assert (st.status, st.listener_port) == ("READY", 10001), st
    listeners = clients.elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"]
    assert {li["Port"]: li["ListenerArn"] for li in listeners}[10000] == foreign
    assert StateTable(clients.dynamodb, s.state_table).snapshot().ports == {(lb, 10001): "orders"}


def test_a_rule_priority_lost_to_a_foreign_rule_is_chosen_again(aws):
    s, clients, reg, reconciler = setup(aws, vpc_links="v2", backend="alb")

    def foreign_rule():
        return clients.elbv2.create_rule(ListenerArn=s.alb_listener_arn, Priority=1, Actions=[
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "418"}}], Conditions=[
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/tea/*"]}}])["Rules"][0]["RuleArn"]

    before_first(clients, "CreateRule", foreign_rule)
    reg.put_spec(spec_item("orders"))
    st = reconciler.run(ALL).statuses["orders"]
    assert st.status == "READY", st
    rules = {int(r["Priority"]): r for r in clients.elbv2.describe_rules(ListenerArn=s.alb_listener_arn)["Rules"]
             if not r["IsDefault"]}
    assert sorted(rules) == [1, 2] and rules[1]["Actions"][0]["Type"] == "fixed-response"
    assert StateTable(clients.dynamodb, s.state_table).snapshot().priorities == {(s.alb_listener_arn, 2): "orders"}
    assert reconciler.run(ALL).plan.steps == []


def test_alb_mode_two_services_swapping_paths_converge_in_one_pass(aws):
    s, clients, reg, reconciler = setup(aws, vpc_links="v2", backend="alb")
    reg.put_spec(spec_item("orders", path="/a"))
    reg.put_spec(spec_item("users", path="/b"))
    reconciler.run(ALL)
    reg.put_spec(spec_item("orders", path="/b"))
    reg.put_spec(spec_item("users", path="/a"))
    outcome = reconciler.run(["orders", "users"])
    assert {n: st.status for n, st in outcome.statuses.items()} == {"orders": "READY", "users": "READY"}, outcome
    items = clients.apigateway.get_resources(restApiId=s.rest_api_id, embed=["methods"], limit=500)["items"]
    headers = {r["path"]: {v for m in r["resourceMethods"].values()
                           for k, v in (m["methodIntegration"].get("requestParameters") or {}).items()
                           if k.startswith("integration.request.header.")} for r in items if r.get("resourceMethods")}
    assert headers["/a"] and headers["/b"], headers
    assert all("users" in v for v in headers["/a"]) and all("orders" in v for v in headers["/b"]), headers
    assert reconciler.run(ALL).plan.steps == []
