"""Custom::ListenerPort: a port on portico's NLB reserved for a stack, never shared with a service."""

from __future__ import annotations

from portico.state import StateTable

from .conftest import ORDERS


def reservations(stack, clients) -> dict[tuple[str, int], str]:
    return StateTable(clients.dynamodb, stack.state_table).snapshot().ports


def port_event(cfn, request, props=None, **kw):
    return cfn(request, props, kind="Custom::ListenerPort", logical=kw.pop("logical", "AdminPort"), **kw)


def test_create_reserves_the_first_free_port_and_a_service_never_gets_it(cfn, stack, clients):
    answer = port_event(cfn, "Create")
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    lb = stack.load_balancer_arns[0]
    assert answer["Data"] == {"Port": 10000, "LoadBalancerArn": lb}
    assert answer["PhysicalResourceId"] == f"{lb}#10000"
    owner = f"cfn:{answer['StackId']}#AdminPort"
    assert reservations(stack, clients) == {(lb, 10000): owner}
    route = cfn("Create", ORDERS)
    assert route["Status"] == "SUCCESS" and route["Data"]["ListenerPort"] == 10001


def test_a_port_held_by_a_service_or_a_foreign_listener_is_skipped(cfn, stack, clients):
    assert cfn("Create", ORDERS)["Data"]["ListenerPort"] == 10000
    tg = clients.elbv2.create_target_group(Name="foreign", Protocol="TCP", Port=80, VpcId=stack.vpc_id,
                                           TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    clients.elbv2.create_listener(LoadBalancerArn=stack.load_balancer_arns[0], Protocol="TCP", Port=10001,
                                  DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    assert port_event(cfn, "Create")["Data"]["Port"] == 10002


def test_a_specific_port_is_reserved_or_refused_with_the_reason(cfn, stack, clients):
    ok = port_event(cfn, "Create", {"Port": "443"})
    assert ok["Status"] == "SUCCESS" and ok["Data"]["Port"] == 443
    taken = port_event(cfn, "Create", {"Port": "443"}, logical="Other")
    assert taken["Status"] == "FAILED"
    assert taken["Reason"] == f"Port: 443 is already reserved by cfn:{ok['StackId']}#AdminPort"
    for bad in ("abc", "0", "70000", "1.5"):
        answer = port_event(cfn, "Create", {"Port": bad}, logical="Bad")
        assert answer["Status"] == "FAILED"
        assert answer["Reason"] == f"Port: must be a whole number from 1 to 65535, got {bad!r}"
        assert answer["PhysicalResourceId"].startswith("portico:not-created:")
    unknown = port_event(cfn, "Create", {"Protocol": "TCP"}, logical="Bad")
    assert unknown["Status"] == "FAILED" and unknown["Reason"].startswith("Protocol: not a property of")
    assert len(reservations(stack, clients)) == 1


def test_update_keeps_the_port_and_a_changed_port_is_a_replacement(cfn, stack, clients):
    created = port_event(cfn, "Create")
    physical = created["PhysicalResourceId"]
    same = port_event(cfn, "Update", {}, physical=physical, old={})
    assert same["Status"] == "SUCCESS" and same["PhysicalResourceId"] == physical
    moved = port_event(cfn, "Update", {"Port": "10500"}, physical=physical, old={})
    assert moved["Status"] == "SUCCESS" and moved["Data"]["Port"] == 10500
    assert moved["PhysicalResourceId"] != physical
    assert {p for (_, p) in reservations(stack, clients)} == {10000, 10500}
    assert port_event(cfn, "Delete", {}, physical=physical)["Status"] == "SUCCESS"  # CloudFormation's cleanup
    assert {p for (_, p) in reservations(stack, clients)} == {10500}


def test_delete_releases_only_this_resources_port(cfn, stack, clients):
    mine = port_event(cfn, "Create")
    theirs = port_event(cfn, "Create", logical="Theirs")
    assert theirs["Data"]["Port"] == 10001
    # A Delete naming another resource's port (e.g. a copied template) releases nothing.
    assert port_event(cfn, "Delete", physical=theirs["PhysicalResourceId"])["Status"] == "SUCCESS"
    assert len(reservations(stack, clients)) == 2
    assert port_event(cfn, "Delete", physical=mine["PhysicalResourceId"])["Status"] == "SUCCESS"
    assert {p for (_, p) in reservations(stack, clients)} == {10001}
    assert port_event(cfn, "Create", logical="Next")["Data"]["Port"] == 10000  # released ports are reusable


def test_duplicate_creates_and_deletes_are_harmless(cfn, stack, clients):
    event = cfn.event("Create", {}, kind="Custom::ListenerPort", logical="AdminPort")
    first = cfn.send(event)
    event["RequestId"] += "-again"
    assert cfn.send(event) == {**first, "RequestId": event["RequestId"]}
    assert len(reservations(stack, clients)) == 1
    delete = cfn.event("Delete", {}, kind="Custom::ListenerPort", logical="AdminPort",
                       physical=first["PhysicalResourceId"])
    assert cfn.send(delete)["Status"] == "SUCCESS"
    delete["RequestId"] += "-again"
    assert cfn.send(delete)["Status"] == "SUCCESS"
    assert reservations(stack, clients) == {}
    assert port_event(cfn, "Delete", physical="portico:not-created:x")["Status"] == "SUCCESS"


def test_a_resource_holding_several_ports_keeps_the_one_it_names(cfn, stack, clients):
    first = port_event(cfn, "Create")
    moved = port_event(cfn, "Update", {"Port": "10500"}, physical=first["PhysicalResourceId"], old={})
    again = port_event(cfn, "Update", {"Port": "10500"}, physical=moved["PhysicalResourceId"], old={"Port": "10500"})
    assert again["Status"] == "SUCCESS" and again["PhysicalResourceId"] == moved["PhysicalResourceId"]
    back = port_event(cfn, "Update", {}, physical=moved["PhysicalResourceId"], old={"Port": "10500"})
    assert back["Status"] == "SUCCESS" and back["PhysicalResourceId"] == moved["PhysicalResourceId"]
    assert len(reservations(stack, clients)) == 2  # CloudFormation's cleanup Delete releases the other


def test_a_specific_port_taken_on_one_load_balancer_is_reserved_on_the_next(aws, recorder, monkeypatch):
    from portico.triggers import default_reconciler
    from tests.conftest import shaped_stack

    from .conftest import Cfn

    pool = shaped_stack(aws, load_balancers=2)
    for name, value in pool.to_env().items():
        monkeypatch.setenv(name, value)
    default_reconciler.cache_clear()
    try:
        cfn = Cfn(recorder)
        first = port_event(cfn, "Create", {"Port": "443"})
        second = port_event(cfn, "Create", {"Port": "443"}, logical="Second")
        assert first["Data"]["LoadBalancerArn"] == pool.load_balancer_arns[0]
        assert second["Status"] == "SUCCESS" and second["Data"] == {"Port": 443,
                                                                   "LoadBalancerArn": pool.load_balancer_arns[1]}
        third = port_event(cfn, "Create", {"Port": "443"}, logical="Third")
        assert third["Status"] == "FAILED" and third["Reason"].startswith("Port: 443 is already reserved by cfn:")
    finally:
        default_reconciler.cache_clear()


def test_an_alb_mode_stack_has_no_ports_to_reserve_and_a_route_has_no_listener_port(aws, recorder, monkeypatch):
    from portico.triggers import default_reconciler
    from portico.triggers.cfn import service_route
    from tests.conftest import shaped_stack

    from .conftest import Cfn

    alb = shaped_stack(aws, vpc_links="v2", backend="alb")
    for name, value in alb.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(service_route, "MAX_WAIT_BETWEEN_PASSES", 0.05)
    default_reconciler.cache_clear()
    try:
        cfn = Cfn(recorder)
        refused = port_event(cfn, "Create", {})
        assert refused["Status"] == "FAILED" and "ALB mode (Backend=alb)" in refused["Reason"]
        route = cfn("Create", {**ORDERS, "Auth": "NONE"})
        assert route["Status"] == "SUCCESS", route
        assert "ListenerPort" not in route["Data"] and route["Data"]["Path"] == "/orders"
        assert route["Data"]["TargetGroupArn"].startswith("arn:aws:elasticloadbalancing:")
    finally:
        default_reconciler.cache_clear()
