"""Traffic through a pool that grew itself: a service that did not fit on the template's NLB is routed, through the
one VPC link v2, to the NLB portico added, and answers through the local gateway as the service on NLB 1 does."""

from __future__ import annotations

from dataclasses import replace

import pytest

from portico.reconcile import ALL, Reconciler

from .conftest import Stack, spec_item, start_plane


@pytest.mark.slow
def test_a_service_on_the_nlb_portico_added_answers_through_the_gateway(moto_endpoint):
    stack = Stack(moto_endpoint, vpc_links="v2")
    stack.settings = replace(stack.settings, max_load_balancers=2)
    stack.reconciler = Reconciler(stack.clients, stack.settings, sleep=lambda s: None)
    elbv2 = stack.clients.elbv2
    tg = elbv2.create_target_group(Name="foreign", Protocol="TCP", Port=80, VpcId=stack.settings.vpc_id,
                                   TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
    for port in range(20000, 20049):  # someone else's listeners: the template's NLB has room for one more
        elbv2.create_listener(LoadBalancerArn=stack.settings.load_balancer_arns[0], Protocol="TCP", Port=port,
                              DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    for name in ("orders", "users"):
        stack.registry.put_spec(spec_item(name, auth="NONE"))
    # the pass adds an NLB, waits for it to be active (the emulator: at once) and routes users on it
    assert {s: st.status for s, st in stack.reconciler.run(ALL).statuses.items()} == {"orders": "READY",
                                                                                       "users": "READY"}
    start_plane(stack)
    try:
        assert stack.wait_for("/orders/a").status_code == 200
        assert stack.wait_for("/users/b").status_code == 200
    finally:
        stack.plane.stop()
        stack.http.close()
