"""The emulator refuses the load balancers and target groups past AWS's per-Region quotas, and creates a load
balancer by name as AWS does (elbv2_pool.py): TooManyLoadBalancers per type, TooManyTargetGroups, the same name
and settings answered with the same load balancer, other settings with DuplicateLoadBalancerName; a new load
balancer stays `provisioning` as long as the test says. The quotas are lowered here so a rule bites in a few
calls; the clients make one attempt, so the error is the emulator's answer."""

from __future__ import annotations

import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from portico_cli.local_aws import account as local
from portico_cli.local_aws.emulator.elbv2_pool import LOAD_BALANCERS, PROVISIONING, TARGET_GROUPS


@pytest.fixture
def aws_once(aws):
    session = local.session(aws)
    config = Config(retries={"mode": "standard", "max_attempts": 1})
    ec2 = session.client("ec2", endpoint_url=aws)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24", AvailabilityZone=f"{local.REGION}{az}")
               ["Subnet"]["SubnetId"] for i, az in ((1, "a"), (2, "b"))]
    return session.client("elbv2", endpoint_url=aws, config=config), vpc, subnets


def refusal(call, **kwargs) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    e = exc.value.response
    return e["ResponseMetadata"]["HTTPStatusCode"], e["Error"]["Code"], e["Error"]["Message"]


def test_load_balancers_past_the_regions_quota_of_their_type_are_refused(aws_once, monkeypatch):
    elbv2, _, subnets = aws_once
    monkeypatch.setenv(LOAD_BALANCERS["network"], "2")
    for i in range(2):
        elbv2.create_load_balancer(Name=f"nlb-{i}", Subnets=subnets, Scheme="internal", Type="network")
    assert refusal(elbv2.create_load_balancer, Name="nlb-2", Subnets=subnets, Scheme="internal", Type="network") == (
        400, "TooManyLoadBalancers", "You've reached the limit on the number of load balancers for your Amazon Web "
                                     "Services account.")
    elbv2.create_load_balancer(Name="alb-0", Subnets=subnets, Scheme="internal", Type="application")  # its own quota


def test_a_load_balancers_name_answers_the_same_settings_with_it_and_refuses_others(aws_once):
    elbv2, _, subnets = aws_once
    first = elbv2.create_load_balancer(Name="pool-2", Subnets=subnets, Scheme="internal", Type="network")
    again = elbv2.create_load_balancer(Name="pool-2", Subnets=subnets, Scheme="internal", Type="network")
    assert again["LoadBalancers"][0]["LoadBalancerArn"] == first["LoadBalancers"][0]["LoadBalancerArn"]
    assert len(elbv2.describe_load_balancers()["LoadBalancers"]) == 1
    assert refusal(elbv2.create_load_balancer, Name="pool-2", Subnets=subnets, Scheme="internal",
                   Type="application")[1] == "DuplicateLoadBalancerName"


def test_target_groups_past_the_regions_quota_are_refused(aws_once, monkeypatch):
    elbv2, vpc, _ = aws_once
    monkeypatch.setenv(TARGET_GROUPS, "2")
    for name in ("tg-0", "tg-1"):
        elbv2.create_target_group(Name=name, Protocol="TCP", Port=80, VpcId=vpc, TargetType="ip")
    assert refusal(elbv2.create_target_group, Name="tg-2", Protocol="TCP", Port=80, VpcId=vpc, TargetType="ip") == (
        400, "TooManyTargetGroups", "You've reached the limit on the number of target groups for your Amazon Web "
                                    "Services account.")


def test_a_new_load_balancer_provisions_for_as_long_as_set(aws_once, monkeypatch):
    elbv2, _, subnets = aws_once
    monkeypatch.setenv(PROVISIONING, "1")
    arn = elbv2.create_load_balancer(Name="slow", Subnets=subnets, Scheme="internal",
                                     Type="network")["LoadBalancers"][0]["LoadBalancerArn"]

    def state() -> str:
        return elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]["State"]["Code"]

    assert state() == "provisioning"
    time.sleep(1.1)
    assert state() == "active"


def test_describing_a_load_balancer_that_does_not_exist_is_refused_whichever_arn_it_is(aws_once):
    """AWS refuses DescribeLoadBalancers with LoadBalancerNotFound when any ARN named does not exist
    (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeLoadBalancers.html); moto alone
    refused it only as the first ARN."""
    elbv2, _, subnets = aws_once
    kept = elbv2.create_load_balancer(Name="kept", Subnets=subnets, Scheme="internal", Type="network")
    gone = elbv2.create_load_balancer(Name="gone", Subnets=subnets, Scheme="internal", Type="network")
    arns = [lb["LoadBalancers"][0]["LoadBalancerArn"] for lb in (kept, gone)]
    elbv2.delete_load_balancer(LoadBalancerArn=arns[1])
    for named in (arns, arns[::-1]):
        assert refusal(elbv2.describe_load_balancers, LoadBalancerArns=named) == (
            400, "LoadBalancerNotFound", "The specified load balancer does not exist.")
    assert [lb["LoadBalancerName"] for lb in elbv2.describe_load_balancers(LoadBalancerArns=arns[:1])[
        "LoadBalancers"]] == ["kept"]
