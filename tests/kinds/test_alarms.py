"""CloudWatch alarms: one per API and one per load balancer from the routing pass, a p99 alarm per service from
the sweeper; created, rewritten and deleted by the pipeline."""

from __future__ import annotations

from botocore.exceptions import ClientError

from portico.kinds.alarms import write_latency_alarms
from portico.reconcile import ALL, Reconciler
from portico.registry import Registry
from portico.state import StateTable
from portico.triggers import sweeper
from tests.conftest import spec_item

TOPIC = "arn:aws:sns:us-east-1:123456789012:portico-alarms"


def api_name(clients, stack) -> str:
    """The REST API's name (the template's `portico-<stack>`): API Gateway's metrics name the API by it."""
    return clients.apigateway.get_rest_api(restApiId=stack.rest_api_id)["name"]


def alarms(clients, prefix="portico-svc-"):
    return {a["AlarmName"]: a for a in clients.cloudwatch.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]}


def test_the_routing_pass_makes_one_alarm_per_api_and_per_load_balancer_naming_each_contributor(clients, stack,
                                                                                               monkeypatch):
    rec = Reconciler(clients, stack.with_(alarm_topic_arn=TOPIC), sleep=lambda s: None)
    reg = Registry(clients.dynamodb, stack.registry_table)
    reg.put_spec(spec_item("orders"))
    reg.put_spec(spec_item("users", methods=["GET", "POST"]))
    outcome = rec.run(ALL)
    assert {s: st.status for s, st in outcome.statuses.items()} == {"orders": "READY", "users": "READY"}

    got = alarms(clients)
    ledgers = StateTable(clients.dynamodb, stack.state_table).snapshot().ledgers
    lbs = sorted({ledgers[s].load_balancer.split("/")[-2] for s in ("orders", "users")})
    assert set(got) == {"portico-svc-_5xx-rate", *(f"portico-svc-_unhealthy-{lb}" for lb in lbs)}
    for alarm in got.values():
        assert alarm["AlarmActions"] == [TOPIC] and alarm["OKActions"] == [TOPIC]
        [query] = alarm["Metrics"]
        assert query["ReturnData"] is True and query["Period"] == 60 and query["Expression"].startswith("SELECT ")
    # one query for the API's last stage (the one users call; the reconciled stage is the first), a contributor
    # per resource: each service is named by its paths
    assert got["portico-svc-_5xx-rate"]["Metrics"][0]["Expression"] == (
        'SELECT AVG("5XXError") FROM SCHEMA("AWS/ApiGateway", ApiName, Method, Resource, Stage) '
        f"WHERE ApiName = '{api_name(clients, stack)}' AND Stage = 'prod' GROUP BY Resource ORDER BY AVG() DESC "
        "LIMIT 500")
    assert got["portico-svc-_5xx-rate"]["Threshold"] == 0.05
    # one query per load balancer, a contributor per target group: the service's
    lb_dim = ledgers["orders"].load_balancer.split(":loadbalancer/")[1]
    unhealthy = got[f"portico-svc-_unhealthy-{lb_dim.split('/')[1]}"]["Metrics"][0]["Expression"]
    assert unhealthy == ('SELECT MAX(UnHealthyHostCount) FROM SCHEMA("AWS/NetworkELB", LoadBalancer, TargetGroup) '
                         f"WHERE LoadBalancer = '{lb_dim}' GROUP BY TargetGroup")

    # p99 latency (no Metrics Insights function) is per service, written by the sweeper, off the routing pass
    assert rec.run(ALL, dry_run=True).plan.steps == []
    paces: list[float] = []
    rec.sleep = paces.append
    monkeypatch.setattr(sweeper, "default_reconciler", lambda: rec)
    assert sweeper.handler({}, Context())["latencyAlarms"] == 2  # one shard: both services
    assert paces == [1 / 3]  # PutMetricAlarm: 3 a second
    p99 = alarms(clients)["portico-svc-users-p99-latency"]
    assert [q["MetricStat"]["Stat"] for q in p99["Metrics"] if "MetricStat" in q] == ["p99"] * 4
    dims = {d["Name"]: d["Value"] for d in p99["Metrics"][3]["MetricStat"]["Metric"]["Dimensions"]}
    assert dims == {"ApiName": api_name(clients, stack), "Stage": "prod", "Resource": "/users/{proxy+}",
                    "Method": "POST"}
    assert sweeper.handler({}, Context())["latencyAlarms"] == 0  # written once; the routing pass keeps them
    assert rec.run(ALL, dry_run=True).plan.steps == []


class Context:
    function_name, memory_limit_in_mb, invoked_function_arn, aws_request_id = "sweeper", 512, "arn", "r1"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def test_the_local_stack_sends_alarms_to_its_topic(clients, stack, reconciler):
    assert stack.alarm_topic_arn.startswith("arn:aws:sns:us-east-1:123456789012:portico-AlarmTopic-")  # the template's
    Registry(clients.dynamodb, stack.registry_table).put_spec(spec_item("orders"))
    reconciler.run(ALL)
    assert {a["AlarmActions"][0] for a in alarms(clients).values()} == {stack.alarm_topic_arn}


def test_offboarding_deletes_the_services_alarm_and_a_group_left_without_services(clients, stack, reconciler):
    reg = Registry(clients.dynamodb, stack.registry_table)
    reg.put_spec(spec_item("orders"))
    reg.put_spec(spec_item("users"))
    outcome = reconciler.run(ALL)
    write_latency_alarms(outcome.plan, {"orders", "users"}, clients, stack, sleep=lambda s: None)  # the sweeper's
    clients.cloudwatch.put_metric_alarm(AlarmName="portico-svc-foreign", MetricName="x", Namespace="y",
                                        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                                        ComparisonOperator="GreaterThanThreshold")
    groups = {n for n in alarms(clients) if n.startswith("portico-svc-_")}
    reg.delete("orders")
    plan = reconciler.run(ALL, dry_run=True).plan
    assert [(s.service, s.params["names"]) for s in plan.steps if s.action == "delete_alarms"] == [
        ("orders", ["portico-svc-orders-p99-latency"])]
    reconciler.run(ALL)
    assert set(alarms(clients)) == groups | {"portico-svc-users-p99-latency", "portico-svc-foreign"}
    reg.delete("users")  # the last service: the API's and its load balancer's alarms go with it
    reconciler.run(ALL)
    assert set(alarms(clients)) == {"portico-svc-foreign"}


def test_a_changed_alarm_and_an_earlier_versions_alarms_are_rewritten_and_deleted(clients, stack, reconciler):
    Registry(clients.dynamodb, stack.registry_table).put_spec(spec_item("orders"))
    reconciler.run(ALL)
    clients.cloudwatch.put_metric_alarm(AlarmName="portico-svc-_5xx-rate", EvaluationPeriods=1, Threshold=99,
                                        ComparisonOperator="GreaterThanThreshold", Metrics=[{
                                            "Id": "q", "ReturnData": True, "Period": 60,
                                            "Expression": 'SELECT SUM("5XXError") FROM "AWS/ApiGateway"'}])
    for legacy in ("portico-svc-orders-5xx-rate", "portico-svc-orders-unhealthy"):  # three per service before
        clients.cloudwatch.put_metric_alarm(AlarmName=legacy, MetricName="UnHealthyHostCount",
                                            Namespace="AWS/NetworkELB", Statistic="Maximum", Period=60,
                                            EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold")
    steps = reconciler.run(ALL, dry_run=True).plan.steps
    assert [(s.action, s.service) for s in steps] == [("put_alarms", "*"), ("delete_alarms", "*")]
    assert steps[0].params["api"] and steps[1].params["names"] == ["portico-svc-orders-5xx-rate",
                                                                   "portico-svc-orders-unhealthy"]
    reconciler.run(ALL)
    assert alarms(clients)["portico-svc-_5xx-rate"]["Threshold"] == 0.05
    assert not {"portico-svc-orders-5xx-rate", "portico-svc-orders-unhealthy"} & set(alarms(clients))
    assert reconciler.run(ALL, dry_run=True).plan.steps == []


def test_a_sweep_whose_p99_alarms_are_refused_reports_it_and_the_next_sweep_writes_them(clients, stack, reconciler,
                                                                                        monkeypatch):
    Registry(clients.dynamodb, stack.registry_table).put_spec(spec_item("orders"))
    reconciler.run(ALL)
    monkeypatch.setattr(sweeper, "default_reconciler", lambda: reconciler)
    real = clients.cloudwatch.put_metric_alarm

    def throttled(**kw):  # one branch: CloudWatch refusing past botocore's retries
        raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "PutMetricAlarm")

    monkeypatch.setattr(clients.cloudwatch, "put_metric_alarm", throttled)
    summary = sweeper.handler({}, Context())
    assert "latencyAlarms" not in summary and summary["errors"] == ["p99 latency alarms: Throttling: Rate exceeded"]
    monkeypatch.setattr(clients.cloudwatch, "put_metric_alarm", real)
    assert sweeper.handler({}, Context())["latencyAlarms"] == 1
