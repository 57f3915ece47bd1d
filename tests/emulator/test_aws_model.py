"""The emulator's AWS model (aws_model.py): switched on, every call takes its latency and every modeled API answers
within its documented rate, refusing beyond it with the service's own throttling error, which botocore's
`standard` retry mode (portico's clients) rides through.

Buckets are made small with their variables where AWS's would take many calls to empty; PutMetricAlarm's is
AWS's own (3 per second).
"""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from portico.clients import DEFAULT_CONFIG
from portico_cli.local_aws import account as local
from portico_cli.local_aws.emulator import aws_model

ONCE = Config(retries={"mode": "standard", "total_max_attempts": 1})  # one attempt: AWS's answer itself


@pytest.fixture
def model(aws, monkeypatch):
    """The model on, with no latency unless a test sets one, and full buckets."""
    monkeypatch.setenv(aws_model.SWITCH, "1")
    monkeypatch.setenv(aws_model.LATENCY, "0")
    aws_model.reset()
    yield monkeypatch
    aws_model.reset()


def client(endpoint: str, name: str, config: Config = ONCE):
    return local.session(endpoint).client(name, endpoint_url=endpoint, config=config)


def alarm(cloudwatch, name: str) -> None:
    cloudwatch.put_metric_alarm(AlarmName=name, MetricName="Latency", Namespace="AWS/ApiGateway", Statistic="Average",
                                Period=60, EvaluationPeriods=1, Threshold=1.0,
                                ComparisonOperator="GreaterThanThreshold")


def answer(call, **kwargs) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"]


def test_put_metric_alarm_beyond_three_per_second_is_refused_with_cloudwatch_throttling(aws, model):
    cloudwatch = client(aws, "cloudwatch")
    for i in range(3):  # AWS's burst
        alarm(cloudwatch, f"a{i}")
    assert answer(alarm, cloudwatch=cloudwatch, name="a3") == (400, "Throttling", "Rate exceeded")
    time.sleep(0.4)  # a token back after 1/3 s
    alarm(cloudwatch, "a3")
    assert aws_model.refusals() == {("cloudwatch", "PutMetricAlarm"): 1}
    assert len(cloudwatch.describe_alarms()["MetricAlarms"]) == 4  # the refused call made nothing


def test_each_service_refuses_with_its_own_throttling_error(aws, model):
    for bucket in ("ELBV2_DESCRIBE", "ECS_READ", "APIGATEWAY"):
        model.setenv(aws_model.RATE + bucket, "2/0.01")
    elbv2, ecs, apigateway = (client(aws, n) for n in ("elbv2", "ecs", "apigateway"))
    for call, expected in ((elbv2.describe_load_balancers, (400, "Throttling", "Rate exceeded")),
                           (ecs.list_clusters, (400, "ThrottlingException", "Rate exceeded")),
                           (apigateway.get_rest_apis, (429, "TooManyRequestsException", "Too Many Requests"))):
        call(), call()
        assert answer(call) == expected
    with pytest.raises(ClientError) as exc:
        apigateway.get_rest_apis()
    assert int(exc.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) >= 1
    # other buckets are untouched: ELBv2's mutating calls and CloudWatch's reads
    elbv2.create_target_group(Name="tg", Protocol="TCP", Port=80, VpcId=local.session(aws).client(
        "ec2", endpoint_url=aws).describe_vpcs()["Vpcs"][0]["VpcId"], TargetType="ip")


def test_api_gateway_calls_draw_on_the_account_bucket_and_their_own(aws, model):
    model.setenv(aws_model.RATE + "APIGATEWAY_GETRESOURCES", "1/0.01")
    apigateway = client(aws, "apigateway")
    api = apigateway.create_rest_api(name="a")["id"]
    apigateway.get_resources(restApiId=api)
    assert answer(apigateway.get_resources, restApiId=api)[1] == "TooManyRequestsException"
    apigateway.get_rest_api(restApiId=api)  # the account's bucket still has tokens
    model.setenv(aws_model.RATE + "APIGATEWAY", "0/0.01")  # a changed rate applies to the next call
    assert answer(apigateway.get_rest_api, restApiId=api)[1] == "TooManyRequestsException"


def test_botocore_standard_retries_ride_through_the_rate(aws, model):
    """Nine alarms at once from three threads against AWS's 3 per second: some calls are refused and retried by
    portico's client configuration, and every alarm is made."""
    cloudwatch = client(aws, "cloudwatch", DEFAULT_CONFIG)
    errors = []

    def make(k):
        try:
            for i in range(3):
                alarm(cloudwatch, f"t{k}-{i}")
        except ClientError as exc:  # pragma: no cover - what the test fails on
            errors.append(exc)

    threads = [threading.Thread(target=make, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert aws_model.refusals()[("cloudwatch", "PutMetricAlarm")] > 0
    assert len(client(aws, "cloudwatch").describe_alarms()["MetricAlarms"]) == 9


def test_concurrent_calls_share_one_bucket_exactly(aws, model):
    model.setenv(aws_model.RATE + "ELBV2_DESCRIBE", "10/0.001")
    elbv2 = client(aws, "elbv2")
    outcomes = []

    def call():
        try:
            elbv2.describe_load_balancers()
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])

    threads = [threading.Thread(target=call) for _ in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes).count("ok") == 10 and outcomes.count("Throttling") == 15


@pytest.mark.parametrize("service, call", [("ecs", "list_clusters"), ("dynamodb", "list_tables")])
def test_every_call_takes_the_latency_and_concurrent_calls_overlap(aws, model, service, call):
    """DynamoDB serves one request at a time under its own lock (dynamodb.py): its latency is slept before it."""
    api = getattr(client(aws, service), call)
    api()  # a warm connection
    model.setenv(aws_model.LATENCY, "300")
    t = time.perf_counter()
    api()
    assert time.perf_counter() - t >= 0.3
    threads = [threading.Thread(target=api) for _ in range(4)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert time.perf_counter() - t < 2 * 0.3  # the latency is not a lock: AWS answers calls in parallel


def test_an_emulator_of_its_own_is_switched_and_read_over_moto_api(aws, monkeypatch):
    """The model of an emulator in another process (make bench, portico local up) is switched and read over HTTP:
    on with full buckets and no refusals counted, the refusals by call, off again; a bad switch is named."""
    monkeypatch.delenv(aws_model.SWITCH, raising=False)  # restored after the test, whatever the route set
    monkeypatch.setenv(aws_model.LATENCY, "0")
    url = f"{aws}{aws_model.CONTROL_URL}"
    assert requests.post(f"{url}?on=1", timeout=10).json() == {"on": True, "refusals": []}
    cloudwatch = client(aws, "cloudwatch")
    for i in range(4):  # one past AWS's burst of 3
        with contextlib.suppress(ClientError):
            alarm(cloudwatch, f"c{i}")
    assert requests.get(url, timeout=10).json() == {"on": True, "refusals": [["cloudwatch", "PutMetricAlarm", 1]]}
    assert requests.post(f"{url}?on=0", timeout=10).json() == {"on": False, "refusals": []}
    refused = requests.post(f"{url}?on=yes", timeout=10)
    assert refused.status_code == 400 and "on: 1 switches" in refused.json()["message"]


def test_off_by_default(aws, monkeypatch):
    monkeypatch.delenv(aws_model.SWITCH, raising=False)
    aws_model.reset()
    cloudwatch = client(aws, "cloudwatch")
    for i in range(6):  # twice AWS's burst, at once
        alarm(cloudwatch, f"o{i}")
    assert aws_model.refusals() == {}


def test_a_malformed_rate_names_its_variable():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(aws_model.RATE + "ECS_READ", "fast")
        with pytest.raises(ValueError, match="PORTICO_EMULATOR_RATE_ECS_READ='fast': expected burst/rate"):
            aws_model.rate("ECS_READ")


def concurrently(call, n: int) -> list[str]:
    """`call(i)` from n threads at once: "ok" or the error code of each."""
    outcomes: list[str] = []
    start = threading.Barrier(n)

    def one(i: int) -> None:
        start.wait()
        try:
            call(i)
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


@pytest.fixture
def slow_creates(monkeypatch):
    """moto's ELBv2 objects made slow to build, between the duplicate check and the insert: a race, if any, shows."""
    from moto.elbv2 import models

    for cls in (models.FakeTargetGroup, models.FakeListener):
        def slow(self, *args, _init=cls.__init__, **kwargs):
            time.sleep(0.02)
            _init(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", slow)


def test_concurrent_elbv2_creates_are_served_one_at_a_time(stack, slow_creates):
    """moto checks for a duplicate and then inserts, nothing held between: the emulator serves each service's calls
    one at a time, so concurrent creates of one name or port end as AWS's would: one made, the others refused."""
    elbv2 = client(stack.endpoint_url, "elbv2", DEFAULT_CONFIG)
    lb = stack.load_balancer_arns[0]

    def group(i: int) -> None:
        elbv2.create_target_group(Name="tg-shared", Protocol="TCP", Port=8080, VpcId=stack.vpc_id, TargetType="ip")

    assert sorted(concurrently(group, 8)) == ["DuplicateTargetGroupName"] * 7 + ["ok"]
    tg = elbv2.describe_target_groups(Names=["tg-shared"])["TargetGroups"]
    assert len(tg) == 1

    def listener(i: int) -> None:  # every thread on the same port
        elbv2.create_listener(LoadBalancerArn=lb, Protocol="TCP", Port=10999,
                              DefaultActions=[{"Type": "forward", "TargetGroupArn": tg[0]["TargetGroupArn"]}])

    assert sorted(concurrently(listener, 8)) == ["DuplicateListener"] * 7 + ["ok"]
    ports = [li["Port"] for li in elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"]]
    assert ports.count(10999) == 1


def test_a_call_whose_clock_was_read_before_anothers_refills_nothing_rather_than_less(monkeypatch):
    """Request threads read the clock, then wait for the buckets' lock: under load one that read it first may
    take a token second. Its elapsed time is then negative, and counting it would refuse a call AWS accepts."""
    monkeypatch.setenv(aws_model.RATE + "ELBV2_MUTATING", "2/10")
    buckets = aws_model.Buckets()
    assert buckets.take("elbv2", "CreateRule", ["ELBV2_MUTATING"], 100.0) is None  # 1 token left
    assert buckets.take("elbv2", "CreateRule", ["ELBV2_MUTATING"], 99.95) is None  # read 50 ms earlier
    assert buckets.take("elbv2", "CreateRule", ["ELBV2_MUTATING"], 100.0) is not None  # the bucket is empty now
    assert buckets.refused[("elbv2", "CreateRule")] == 1
