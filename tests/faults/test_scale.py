"""Scale past one NLB: 120 services over a pool of three NLBs (50 listeners each, fixed by AWS)."""

from __future__ import annotations

from collections import Counter

import pytest

from portico.reconcile import ALL
from portico.settings import LISTENERS_PER_NLB
from portico.triggers.stream import handle
from portico_cli.local_aws.streampoll import fake_context

N = 120


@pytest.mark.slow
def test_pool_of_three_nlbs_serves_120_services_and_offboarding_frees_slots(world, portico_clients, injector):
    names = [f"svc-{i:03d}" for i in range(N)]
    world.fresh(load_balancers=3, services=dict.fromkeys(names, 8080))
    s = world.settings
    world.add_foreign_listener(10003, lb_index=1)  # another team's listener on the second NLB
    for name in names:
        world.put(name)
    records = world.stream_records()
    reconciler = world.reconciler(clients=portico_clients)
    for i in range(0, len(records), 100):  # Lambda's batch size
        assert handle({"Records": records[i:i + 100]}, fake_context(), reconciler)["batchItemFailures"] == []
    assert injector.calls(service="apigateway").count(("apigateway", "CreateDeployment")) == 2  # one per pass

    items = world.items()
    assert {v["status"] for v in items.values()} == {"READY"}, Counter(v["statusMessage"] for v in items.values())
    listeners = world.listeners()
    per_lb = [len(listeners[arn]) for arn in s.load_balancer_arns]
    assert per_lb == [LISTENERS_PER_NLB, LISTENERS_PER_NLB, N - 2 * LISTENERS_PER_NLB + 1]  # 1: the foreign one
    # Spill order: the first 50 on NLB 1, the next 50 on NLB 2 (port 10003 skipped there), the rest on NLB 3.
    ledgers = {d["service"]: d for d in world.state_items() if d["pk"].startswith("svc#")}
    lb_of = {n: s.load_balancer_arns.index(ledgers[n]["loadBalancer"]) for n in names}
    assert [lb_of[n] for n in names] == [0] * 50 + [1] * 49 + [2] * 21
    assert 10003 not in {int(ledgers[n]["port"]) for n in names if lb_of[n] == 1}
    # Each integration uses its own NLB's DNS name and VPC link.
    dns = {lb["LoadBalancerArn"]: lb["DNSName"] for lb in world.clients.elbv2.describe_load_balancers(
        LoadBalancerArns=list(s.load_balancer_arns))["LoadBalancers"]}
    resources = world.resources()
    links = dict(zip(s.load_balancer_arns, s.vpc_link_ids, strict=True))
    for n in names:
        lb = ledgers[n]["loadBalancer"]
        for path in (f"/{n}", f"/{n}/{{proxy+}}"):
            integ = resources[path]["resourceMethods"]["ANY"]["methodIntegration"]
            assert f"//{dns[lb]}:{int(ledgers[n]['port'])}/" in integ["uri"]
            if names.index(n) % 10:
                continue  # every tenth service: GetIntegration is one call per method
            got = world.clients.apigateway.get_integration(restApiId=s.rest_api_id, resourceId=resources[path]["id"],
                                                           httpMethod="ANY")
            assert got.get("connectionId", links[lb]) == links[lb]  # moto may omit connectionId
    assert reconciler.run(names[:1], dry_run=True).plan.steps == []  # converged
    assert world.audit(converged=True) == []

    # Offboard ten services on NLB 1: their slots are free again and the next services take them.
    gone = names[10:20]
    freed = sorted(int(ledgers[n]["port"]) for n in gone)
    for n in gone:
        world.registry.delete(n)
    assert handle({"Records": world.stream_records()}, fake_context(), reconciler)["batchItemFailures"] == []
    world.add_ecs_services({f"new-{i}": 8080 for i in range(10)})
    for i in range(10):
        world.put(f"new-{i}")
    records = world.stream_records()
    assert handle({"Records": records}, fake_context(), reconciler)["batchItemFailures"] == []
    ledgers = {d["service"]: d for d in world.state_items() if d["pk"].startswith("svc#")}
    assert not set(gone) & set(ledgers)
    assert sorted(int(ledgers[f"new-{i}"]["port"]) for i in range(10)) == freed
    assert {ledgers[f"new-{i}"]["loadBalancer"] for i in range(10)} == {s.load_balancer_arns[0]}
    assert [len(world.listeners()[arn]) for arn in s.load_balancer_arns] == per_lb
    assert world.audit(converged=True) == []
    injector.reset_counts()
    reconciler.run(ALL)
    assert injector.writes() == []
