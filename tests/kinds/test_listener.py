"""A service's listener: its TCP listener on its reserved port (NLB mode) or its rule at its reserved priority on the
ALB's listener (ALB mode, kinds/listener_rule.py; the ALB-only tests are in test_listener_rule.py). A slot (a port, a
rule priority) taken by anyone between the plan and the create is given up and another one chosen, in the same pass
or the next; a foreign listener or rule is never touched."""

from __future__ import annotations

import pytest

from portico.clients import Clients
from portico.reconcile import ALL
from portico.state import StateTable
from tests.conftest import spec_item
from tests.kinds.conftest import MODES, local_stack, rules

FIRST = {"nlb": 10000, "alb": 1}  # the first port of the range, the first rule priority


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


def take(clients: Clients, s, mode: str, slot: int) -> None:
    """Someone else's listener on port `slot` of the first NLB, or rule at priority `slot` on the ALB's listener."""
    if mode == "nlb":
        clients.elbv2.create_listener(LoadBalancerArn=s.load_balancer_arns[0], Protocol="TCP", Port=slot,
                                      DefaultActions=[{"Type": "forward",
                                                       "TargetGroupArn": foreign_target_group(clients, s)}])
    else:
        clients.elbv2.create_rule(ListenerArn=s.alb_listener_arn, Priority=slot, Actions=[
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "418"}}], Conditions=[
            {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/tea/*"]}}])


def taken(clients: Clients, s, mode: str) -> dict[int, str]:
    """{port or priority: the first action there, as its target group's name or its type}."""
    if mode == "nlb":
        listeners = clients.elbv2.describe_listeners(LoadBalancerArn=s.load_balancer_arns[0])["Listeners"]
        return {li["Port"]: li["DefaultActions"][0]["TargetGroupArn"].split("/")[-2] for li in listeners}
    return {int(r["Priority"]): r["Actions"][0]["Type"] for r in rules(clients, s)}


def reserved(clients: Clients, s, mode: str) -> dict[int, str]:
    """{port or priority: the service it is reserved for} in the state table."""
    snapshot = StateTable(clients.dynamodb, s.state_table).snapshot()
    return {slot: owner for (_, slot), owner in (snapshot.ports if mode == "nlb" else snapshot.priorities).items()}


@pytest.mark.parametrize("mode", list(MODES))
def test_a_slot_lost_to_a_foreign_listener_or_rule_is_chosen_again(aws, mode):
    s, clients, reg, reconciler = local_stack(aws, **MODES[mode])
    first = FIRST[mode]

    def foreign():  # the foreign listener or rule comes after the reservation
        assert reserved(clients, s, mode) == {first: "orders"}
        take(clients, s, mode, first)

    before_first(clients, "CreateListener" if mode == "nlb" else "CreateRule", foreign)
    reg.put_spec(spec_item("orders"))
    st = reconciler.run(ALL).statuses["orders"]
    assert st.status == "READY", st
    if mode == "nlb":
        assert st.listener_port == first + 1
    assert sorted(taken(clients, s, mode)) == [first, first + 1]
    assert taken(clients, s, mode)[first] == ("team-x" if mode == "nlb" else "fixed-response")  # untouched
    assert reserved(clients, s, mode) == {first + 1: "orders"}  # the lost slot is released
    assert reconciler.run(ALL).plan.steps == []  # converged


def test_a_reserved_port_a_foreign_listener_took_is_given_up_on_the_next_pass(aws):
    """The state an older pass left: the reservation holds a port where a foreign listener now sits."""
    s, clients, reg, reconciler = local_stack(aws)
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
