"""The emulator refuses the target group health checks AWS refuses (elbv2_health.py): out of AWS's ranges on
CreateTargetGroup and ModifyTargetGroup, and a modified timeout not less than the interval. botocore checks
only the minimums, client-side: these clients skip that, so the answer is the emulator's."""

from __future__ import annotations

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from portico_cli.local_aws import account as local

RANGE_CASES = [
    ({"HealthCheckIntervalSeconds": 4}, "'4' at 'healthCheckIntervalSeconds'", "greater than or equal to 5"),
    ({"HealthCheckIntervalSeconds": 301}, "'301' at 'healthCheckIntervalSeconds'", "less than or equal to 300"),
    ({"HealthCheckTimeoutSeconds": 1}, "'1' at 'healthCheckTimeoutSeconds'", "greater than or equal to 2"),
    ({"HealthCheckTimeoutSeconds": 121}, "'121' at 'healthCheckTimeoutSeconds'", "less than or equal to 120"),
    ({"HealthyThresholdCount": 1}, "'1' at 'healthyThresholdCount'", "greater than or equal to 2"),
    ({"UnhealthyThresholdCount": 11}, "'11' at 'unhealthyThresholdCount'", "less than or equal to 10"),
]


@pytest.fixture
def elbv2(aws):
    config = Config(retries={"mode": "standard", "max_attempts": 1}, parameter_validation=False)
    return local.session(aws).client("elbv2", endpoint_url=aws, config=config)


@pytest.fixture
def vpc(aws) -> str:
    return local.session(aws).client("ec2", endpoint_url=aws).create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]


def refusal(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def test_out_of_range_health_checks_are_refused_on_create_and_modify(elbv2, vpc):
    base = {"Protocol": "TCP", "Port": 80, "VpcId": vpc, "TargetType": "ip"}
    arn = elbv2.create_target_group(Name="hc-ok", HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=4,
                                    HealthyThresholdCount=2, UnhealthyThresholdCount=10,
                                    **base)["TargetGroups"][0]["TargetGroupArn"]  # the edges are accepted
    for i, (bad, where, rule) in enumerate(RANGE_CASES):
        for code, message in (refusal(elbv2.create_target_group, Name=f"hc-bad-{i}", **base, **bad),
                              refusal(elbv2.modify_target_group, TargetGroupArn=arn, **bad)):
            assert code == "ValidationError" and where in message and rule in message, (bad, message)
    names = {tg["TargetGroupName"] for tg in elbv2.describe_target_groups()["TargetGroups"]}
    assert not any(n.startswith("hc-bad") for n in names)


def test_a_modified_timeout_must_stay_below_the_interval(elbv2, vpc):
    http = elbv2.create_target_group(Name="hc-http", Protocol="HTTP", Port=80, VpcId=vpc,
                                     TargetType="ip", HealthCheckIntervalSeconds=10,
                                     HealthCheckTimeoutSeconds=5)["TargetGroups"][0]["TargetGroupArn"]
    assert refusal(elbv2.modify_target_group, TargetGroupArn=http, HealthCheckIntervalSeconds=5) == (
        "ValidationError", "Health check timeout '5' must be smaller than the interval '5'")
    assert refusal(elbv2.modify_target_group, TargetGroupArn=http, HealthCheckTimeoutSeconds=12) == (
        "ValidationError", "Health check timeout '12' must be smaller than the interval '10'")
    elbv2.modify_target_group(TargetGroupArn=http, HealthCheckIntervalSeconds=6)  # 5 < 6: accepted
    tg = elbv2.describe_target_groups(TargetGroupArns=[http])["TargetGroups"][0]
    assert (tg["HealthCheckIntervalSeconds"], tg["HealthCheckTimeoutSeconds"]) == (6, 5)
