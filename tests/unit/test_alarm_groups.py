"""Alarms grow per load balancer, not per service: the routing pass of N services writes 1 + N/50 alarms (NLB mode:
50 listeners per NLB); the per-service p99 alarms are the sweeper's, LATENCY_PER_SWEEP after a sweep."""

from __future__ import annotations

import pytest

from portico.desired import DesiredService
from portico.kinds import alarms
from portico.observed import Observed, ProductObserved
from portico.settings import Settings
from portico.spec import parse
from portico.state import Ledger, StateSnapshot
from portico.steps import Plan, Route

pytestmark = pytest.mark.usefixtures("no_network")  # the planner is pure
LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/portico-nlb-{}/abc{}"
SETTINGS = Settings(rest_api_id="api123", load_balancer_arns=(LB.format(1, 1),), vpc_link_ids=("vl1",),
                    vpc_id="vpc-1", allow_unauthenticated=True)


def lb(i: int) -> str:
    return LB.format(i // 50 + 1, i // 50 + 1)  # 50 services per NLB, as its 50 listeners allow


def desired(i: int) -> DesiredService:
    spec = parse({"service": f"s{i:04d}", "cluster": "demo", "containerPort": 8080, "path": f"/s{i:04d}",
                  "auth": "NONE"}, allow_unauthenticated=True)
    return DesiredService(spec, lb(i), "dns", "vl1", 10000 + i % 50, f"portico-s{i:04d}", "ip", "app",
                          f"demo/s{i:04d}", ())


def onboard(n: int, *, routed_before: bool, have: dict | None = None) -> list:
    plan = Plan(desired={f"s{i:04d}": desired(i) for i in range(n)})
    ledgers = {f"s{i:04d}": Ledger(f"s{i:04d}", lb(i), 10000 + i % 50, f"/s{i:04d}", {f"portico-s{i:04d}": "arn"})
               for i in range(n)} if routed_before else {}
    obs = Observed(state=StateSnapshot(ledgers=ledgers), load_balancers={}, target_groups={}, resources={}, ecs={},
                   product=ProductObserved(api_name="portico", alarms=have or {}))
    return alarms.plan_pass(plan, obs, SETTINGS, "us-east-1")


@pytest.mark.parametrize("n", [1, 100, 1000])
def test_onboarding_n_services_writes_one_alarm_for_the_api_and_one_per_load_balancer(n):
    [step] = onboard(n, routed_before=False)
    assert (step.action, step.service) == ("put_alarms", "*")
    assert step.params == {"api": True, "loadBalancers": sorted({lb(i) for i in range(n)})}  # and no p99 alarm
    assert len(step.params["loadBalancers"]) == -(-n // 50)  # 1000 services: 20 NLBs, 21 PutMetricAlarm


class FakeCloudWatch:
    """The sweeper's two CloudWatch calls, recorded (a unit test of the budget and the pacing)."""

    def __init__(self, have):
        self.have, self.put = have, []

    def describe_alarms(self, AlarmNames, AlarmTypes):  # noqa: N803 (boto3's keyword names)
        assert len(AlarmNames) <= 100 and AlarmTypes == ["MetricAlarm"]
        return {"MetricAlarms": [self.have[n] for n in AlarmNames if n in self.have]}

    def put_metric_alarm(self, **request):
        self.put.append(request["AlarmName"])


class FakeApiGateway:
    def get_rest_api(self, restApiId):  # noqa: N803
        return {"name": "portico"}


def test_the_sweeper_writes_missing_p99_alarms_a_bounded_number_at_three_a_second_and_then_none():
    plan = Plan(desired={f"s{i:04d}": desired(i) for i in range(50)})  # a shard
    have = {}
    clients = type("Clients", (), {"cloudwatch": FakeCloudWatch(have), "apigateway": FakeApiGateway()})()
    sleeps = []
    written = alarms.write_latency_alarms(plan, set(plan.desired) - {"s0000"}, clients, SETTINGS, sleep=sleeps.append)
    assert written == [f"portico-svc-s{i:04d}-p99-latency" for i in range(1, 1 + alarms.LATENCY_PER_SWEEP)]
    assert clients.cloudwatch.put == written and sleeps == [1 / 3] * (alarms.LATENCY_PER_SWEEP - 1)
    have.update({r["AlarmName"]: r for r in (alarms.latency_request(
        Route.of(desired(i)), stack="portico", api_name="portico", stage="dev", topic="") for i in range(50))})
    assert alarms.write_latency_alarms(plan, set(plan.desired), clients, SETTINGS, sleep=sleeps.append) == []


def test_the_routing_pass_keeps_routed_services_p99_alarms_and_deletes_orphans_and_earlier_versions():
    have = {alarms.latency_alarm_name("portico", s): {"AlarmName": "x"} for s in ("s0000", "gone")}
    have["portico-svc-s0001-unhealthy"] = {}
    have["portico-svc-hand-made"] = {}  # not a name portico gives
    steps = onboard(2, routed_before=True, have=have)
    assert [(s.action, s.service, s.params.get("names")) for s in steps if s.action == "delete_alarms"] == [
        ("delete_alarms", "*", ["portico-svc-gone-p99-latency", "portico-svc-s0001-unhealthy"])]


def test_each_group_query_names_what_it_covers_and_an_empty_load_balancer_loses_its_alarm():
    routes = [Route.of(desired(i)) for i in range(60)]
    by_name = {r["AlarmName"]: r for r in alarms.group_requests(routes, SETTINGS, "portico")}
    assert sorted(by_name) == ["portico-svc-_5xx-rate", "portico-svc-_unhealthy-portico-nlb-1",
                               "portico-svc-_unhealthy-portico-nlb-2"]
    query = by_name["portico-svc-_unhealthy-portico-nlb-2"]["Metrics"][0]["Expression"]
    assert "WHERE LoadBalancer = 'net/portico-nlb-2/abc2' GROUP BY TargetGroup" in query
    # the 10 services of the second NLB leave: its alarm is deleted, the first NLB's is untouched
    plan = Plan(desired={f"s{i:04d}": desired(i) for i in range(50)}, removed=[f"s{i:04d}" for i in range(50, 60)])
    ledgers = {f"s{i:04d}": Ledger(f"s{i:04d}", lb(i), 10000 + i % 50, f"/s{i:04d}") for i in range(60)}
    obs = Observed(state=StateSnapshot(ledgers=ledgers), load_balancers={}, target_groups={}, resources={}, ecs={},
                   product=ProductObserved(api_name="portico", alarms=by_name))
    steps = alarms.plan_pass(plan, obs, SETTINGS, "us-east-1")
    assert [(s.action, s.service, s.params.get("names")) for s in steps if s.action == "delete_alarms"] == [
        ("delete_alarms", "*", ["portico-svc-_unhealthy-portico-nlb-2"])]
    assert not any(s.params.get("api") or s.params.get("loadBalancers") for s in steps if s.action == "put_alarms")
