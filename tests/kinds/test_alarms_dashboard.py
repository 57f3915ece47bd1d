"""Per-service CloudWatch alarms and the services dashboard, created and deleted by the pipeline."""

from __future__ import annotations

import json

from portico.kinds.alarms import alarm_names
from portico.observed import dashboard_name
from portico.reconcile import ALL, Reconciler
from portico.registry import Registry
from portico.state import StateTable
from tests.conftest import spec_item

TOPIC = "arn:aws:sns:us-east-1:123456789012:portico-alarms"


def alarms(clients, prefix="portico-svc-"):
    return {a["AlarmName"]: a for a in clients.cloudwatch.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]}


def dashboard(clients):
    return json.loads(clients.cloudwatch.get_dashboard(DashboardName=dashboard_name("portico"))["DashboardBody"])


def test_alarms_are_created_with_the_service_and_recorded_in_the_ledger(clients, stack):
    rec = Reconciler(clients, stack.with_(alarm_topic_arn=TOPIC), sleep=lambda s: None)
    reg = Registry(clients.dynamodb, stack.registry_table)
    reg.put_spec(spec_item("orders"))
    reg.put_spec(spec_item("users", methods=["GET", "POST"]))
    outcome = rec.run(ALL)
    assert {s: st.status for s, st in outcome.statuses.items()} == {"orders": "READY", "users": "READY"}

    got = alarms(clients)
    names = alarm_names("portico", "orders")
    assert names == ["portico-svc-orders-5xx-rate", "portico-svc-orders-p99-latency", "portico-svc-orders-unhealthy"]
    assert set(got) == set(names) | set(alarm_names("portico", "users"))
    for name in got:
        assert got[name]["AlarmActions"] == [TOPIC] and got[name]["OKActions"] == [TOPIC]
    # 5XX rate: metric math over the service's per-method ApiGateway metrics
    five = got["portico-svc-users-5xx-rate"]
    queries = {q["Id"]: q for q in five["Metrics"]}
    assert queries["rate"]["Expression"] == "100 * (e0 + e1 + e2 + e3) / (c0 + c1 + c2 + c3)"
    dims = {d["Name"]: d["Value"] for d in queries["e3"]["MetricStat"]["Metric"]["Dimensions"]}
    # on the last stage, the one users call (the reconciled stage is the first)
    assert dims == {"ApiName": "portico", "Stage": "prod", "Resource": "/users/{proxy+}", "Method": "POST"}
    assert got["portico-svc-orders-p99-latency"]["Metrics"][0]["MetricStat"]["Stat"] == "p99"
    # NLB unhealthy targets of the service's target group
    unhealthy = got["portico-svc-orders-unhealthy"]
    tg = reg.get("orders")["targetGroupArn"]
    assert unhealthy["Namespace"] == "AWS/NetworkELB" and unhealthy["MetricName"] == "UnHealthyHostCount"
    dims = {d["Name"]: d["Value"] for d in unhealthy["Dimensions"]}
    # the ARN's tail (`net/name/id` on AWS; moto's NLB ARNs say `app/`)
    assert dims["TargetGroup"] == tg.split(":")[-1]
    assert dims["LoadBalancer"] == stack.load_balancer_arns[0].split(":loadbalancer/")[1]
    ledger = StateTable(clients.dynamodb, stack.state_table).snapshot().ledgers["orders"]
    assert sorted(ledger.alarms) == sorted(names)
    assert rec.run(ALL, dry_run=True).plan.steps == []


def test_the_local_stack_sends_alarms_to_its_topic(clients, stack, reconciler):
    assert stack.alarm_topic_arn.endswith(":portico-alarms")
    Registry(clients.dynamodb, stack.registry_table).put_spec(spec_item("orders"))
    reconciler.run(ALL)
    assert {a["AlarmActions"][0] for a in alarms(clients).values()} == {stack.alarm_topic_arn}


def test_alarms_are_deleted_when_the_service_is_offboarded(clients, stack, reconciler):
    reg = Registry(clients.dynamodb, stack.registry_table)
    reg.put_spec(spec_item("orders"))
    reg.put_spec(spec_item("users"))
    reconciler.run(ALL)
    clients.cloudwatch.put_metric_alarm(AlarmName="portico-svc-foreign", MetricName="x", Namespace="y",
                                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                                        ComparisonOperator="GreaterThanThreshold")
    reg.delete("orders")
    plan = reconciler.run(ALL, dry_run=True).plan
    assert [s.params["names"] for s in plan.steps if s.action == "delete_alarms"] == [alarm_names("portico", "orders")]
    reconciler.run(ALL)
    assert set(alarms(clients)) == set(alarm_names("portico", "users")) | {"portico-svc-foreign"}


def test_a_changed_alarm_definition_is_rewritten(clients, stack, reconciler):
    Registry(clients.dynamodb, stack.registry_table).put_spec(spec_item("orders"))
    reconciler.run(ALL)
    clients.cloudwatch.put_metric_alarm(AlarmName="portico-svc-orders-unhealthy", MetricName="UnHealthyHostCount",
                                        Namespace="AWS/NetworkELB", Statistic="Maximum", Period=60,
                                        EvaluationPeriods=1, Threshold=99, ComparisonOperator="GreaterThanThreshold")
    steps = reconciler.run(ALL, dry_run=True).plan.steps
    assert [(s.action, s.service) for s in steps] == [("put_alarms", "orders")]
    reconciler.run(ALL)
    assert alarms(clients)["portico-svc-orders-unhealthy"]["Threshold"] == 0.0


def test_dashboard_has_one_row_per_service_and_follows_offboarding(clients, stack, reconciler):
    reg = Registry(clients.dynamodb, stack.registry_table)
    for s in ("orders", "users", "catalog"):
        reg.put_spec(spec_item(s))
    reconciler.run(ALL)
    body = dashboard(clients)
    titles = [w["properties"].get("title", "") for w in body["widgets"] if w["type"] == "metric"]
    assert [t.split(" ")[0].rstrip(":") for t in titles[::3]] == ["catalog", "orders", "users"]
    assert len(titles) == 9
    nlb = [w for w in body["widgets"] if "NLB targets" in w["properties"].get("title", "")]
    assert all(w["properties"]["metrics"][1][1] == "UnHealthyHostCount" for w in nlb)

    reg.delete("users")
    reconciler.run(["users"])  # scoped: the dashboard still lists every routed service
    titles = [w["properties"]["title"] for w in dashboard(clients)["widgets"] if w["type"] == "metric"]
    assert sorted({t.split(" ")[0].rstrip(":") for t in titles}) == ["catalog", "orders"]
    assert reconciler.run(ALL, dry_run=True).plan.steps == []
