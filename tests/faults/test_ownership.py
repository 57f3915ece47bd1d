"""Ownership is the ledger, not the tags: an object is portico's when the state table recorded it (its ARN, or for
a create cut short, the name written ahead and the token of the ledger's nonce the object carries). A look-alike
with portico's deterministic name and copied `portico:*` tags is refused by name and never modified or deleted."""

from __future__ import annotations

import time

import pytest

from portico.desired import target_group_name
from portico.reconcile import ALL
from portico.state import TOKEN_TAG

from .injector import Crash

COPIED = {"portico:stack": "portico", "portico:service": "orders", TOKEN_TAG: "0" * 32}


def tags(**kw) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in {**COPIED, **kw}.items()]


def test_a_look_alike_target_group_is_refused_and_never_deleted(world):
    name = target_group_name("portico", "orders", 8080, "ip")
    fake = world.clients.elbv2.create_target_group(Name=name, Protocol="TCP", Port=8080, VpcId=world.settings.vpc_id,
                                                   TargetType="ip", Tags=tags())["TargetGroups"][0]["TargetGroupArn"]
    world.put("orders", ecsService="orders")
    st = world.reconciler().run(ALL).statuses["orders"]
    assert st.status == "FAILED" and name in st.message and "portico did not create it" in st.message, st
    assert not world.ecs_services()["demo/orders"].get("loadBalancers")  # not attached to the ECS service
    theirs = world.add_foreign_listener(10500)  # its owner routes it and attaches it to the ECS service
    world.clients.elbv2.modify_listener(ListenerArn=theirs,
                                        DefaultActions=[{"Type": "forward", "TargetGroupArn": fake}])
    world.foreign_listeners[theirs]["tg"] = fake
    world.clients.ecs.update_service(cluster="demo", service="orders", loadBalancers=[
        {"targetGroupArn": fake, "containerName": "app", "containerPort": 8080}])
    world.registry.delete("orders")
    world.reconciler().run(ALL)
    world.reconciler().run(ALL)
    assert fake in world.target_groups()  # never deleted
    attached = world.ecs_services()["demo/orders"]["loadBalancers"]
    assert [lb["targetGroupArn"] for lb in attached] == [fake]  # nor detached
    assert "orders" not in world.state.snapshot().ledgers


def test_a_look_alike_listener_on_the_services_port_is_refused_and_never_deleted(world):
    world.put("orders", ecsService="orders")
    ready = world.reconciler().run(ALL).statuses["orders"]
    lb, port = world.settings.load_balancer_arns[0], ready.listener_port
    mine = next(li for li in world.listeners()[lb] if li["Port"] == port)
    world.clients.elbv2.delete_listener(ListenerArn=mine["ListenerArn"])
    fake = world.clients.elbv2.create_listener(LoadBalancerArn=lb, Protocol="TCP", Port=port, Tags=tags(),
                                               DefaultActions=mine["DefaultActions"])["Listeners"][0]["ListenerArn"]
    st = world.reconciler().run(ALL).statuses["orders"]
    assert st.status == "FAILED" and fake in st.message and "did not create" in st.message, st
    world.registry.delete("orders")
    world.reconciler().run(ALL)
    assert fake in {li["ListenerArn"] for li in world.listeners()[lb]}  # left alone


def test_a_target_group_whose_create_was_cut_short_is_still_adopted(world, injector, portico_clients):
    """The crash the write-ahead intent is for: the group exists with the ledger's token, its ARN unsaved."""
    world.put("orders", ecsService="orders")
    creates = []

    def crash_after_create(service: str, operation: str) -> None:
        if creates:
            raise Crash("the process dies right after CreateTargetGroup")
        if operation == "CreateTargetGroup":
            creates.append(operation)

    injector.on_call = crash_after_create
    with pytest.raises(Crash):
        world.reconciler(clients=portico_clients).run(ALL)
    injector.on_call = None
    assert creates and world.state.snapshot().ledgers["orders"].target_groups == {
        target_group_name("portico", "orders", 8080, "ip"): ""}
    later = world.reconciler(clock=lambda: time.time() + world.state.CLAIM_SECONDS + 1)
    assert later.run(ALL).statuses["orders"].status == "READY"
    assert world.audit(converged=True) == []
