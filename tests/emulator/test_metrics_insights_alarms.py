"""PutMetricAlarm on the emulator checks a Metrics Insights alarm as CloudWatch does where portico depends on it
(emulator/cloudwatch.py names each rule and its source); moto alone stores any Metrics array."""

from __future__ import annotations

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from portico.kinds.alarms import five_xx_request, unhealthy_request
from portico_cli.local_aws import account as local

QUERY = 'SELECT MAX(UnHealthyHostCount) FROM SCHEMA("AWS/NetworkELB", LoadBalancer, TargetGroup) GROUP BY TargetGroup'


@pytest.fixture
def cw(aws):
    config = Config(retries={"mode": "standard", "max_attempts": 1})  # AWS's answer, not botocore's last retry
    return local.session(aws).client("cloudwatch", endpoint_url=aws, config=config)


def put(cw, name="a", *, query=QUERY, period=60, **kw):
    metrics = kw.pop("metrics", None) or [{"Id": "q", "ReturnData": True, "Period": period, "Expression": query}]
    return cw.put_metric_alarm(AlarmName=name, EvaluationPeriods=1, Threshold=0,
                               ComparisonOperator="GreaterThanThreshold", Metrics=metrics, **kw)


def refused(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def test_portico_s_alarms_are_accepted_and_read_back_as_sent(cw):
    lb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/portico-nlb-1/abc"
    for request in (five_xx_request(stack="portico", api_name="portico", stage="prod", topic=""),
                    unhealthy_request(lb, stack="portico", backend="alb", topic="")):
        cw.put_metric_alarm(**request)
        [got] = cw.describe_alarms(AlarmNames=[request["AlarmName"]])["MetricAlarms"]
        assert got["Metrics"][0]["Expression"] == request["Metrics"][0]["Expression"]


@pytest.mark.parametrize(("query", "rule"), [
    ('SELECT p99(Latency) FROM "AWS/ApiGateway"', "expected AVG or COUNT or MAX or MIN or SUM, found 'p99'"),
    ("SELECT AVG(Latency) FROM \"AWS/ApiGateway\" WHERE Resource IN ('/a', '/b')",
     "WHERE compares a label with = or != only, found 'IN'"),
    ("SELECT AVG(Latency) FROM \"AWS/ApiGateway\" WHERE Stage = 'a' OR Stage = 'b'", "unexpected 'OR'"),
    ('SELECT AVG(Latency) FROM AWS/ApiGateway', "unexpected character '/'"),
    ('SELECT AVG(Latency) FROM "AWS/ApiGateway" WHERE Stage = prod', "a label value is in single quotes"),
    ('SELECT AVG(Latency) FROM "AWS/ApiGateway" GROUP BY Resource LIMIT 501', "LIMIT takes a number from 1 to 500"),
])
def test_a_query_outside_the_documented_grammar_is_refused_naming_the_rule(cw, query, rule):
    code, message = refused(lambda: put(cw, query=query))
    assert code == "InvalidParameterValue" and "Metrics (Id q): the Metrics Insights query is invalid" in message
    assert rule in message


def test_the_query_s_period_its_length_and_the_one_value_watched_are_checked(cw):
    code, message = refused(lambda: put(cw, period=30))
    assert code == "InvalidParameterValue" and "Period of whole minutes" in message
    long = QUERY.replace("GROUP BY", "WHERE LoadBalancer = '" + "x" * 2048 + "' GROUP BY")
    code, message = refused(lambda: put(cw, query=long))
    assert code == "ValidationError" and "length less than or equal to 2048" in message
    two = [{"Id": "q", "ReturnData": True, "Period": 60, "Expression": QUERY},
           {"Id": "r", "ReturnData": True, "Period": 60, "Expression": QUERY}]
    code, message = refused(lambda: put(cw, metrics=two))
    assert code == "ValidationError" and "exactly one query returns data" in message
    assert cw.describe_alarms()["MetricAlarms"] == []


def test_metrics_insights_alarms_are_counted_against_the_region_s_quota(cw, monkeypatch):
    monkeypatch.setenv("PORTICO_EMULATOR_METRICS_INSIGHTS_ALARMS", "2")  # AWS's default is 200
    put(cw, "a")
    put(cw, "b")
    put(cw, "b")  # rewriting an alarm is not a new one
    cw.put_metric_alarm(AlarmName="classic", MetricName="x", Namespace="y", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    code, message = refused(lambda: put(cw, "c"))
    assert code == "LimitExceeded" and "2 Metrics Insights alarms per Region" in message
    cw.delete_alarms(AlarmNames=["a"])
    put(cw, "c")
