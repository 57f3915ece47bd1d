"""A VPC link V2 exists only in the Availability Zone IDs AWS lists for it per Region: the local AWS refuses a
subnet elsewhere with AWS's answer (emulator/vpclink.py cites both), so a stack whose link subnets AWS would
refuse fails locally first."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from portico_cli.local_aws import account as local


@pytest.fixture
def network(aws):
    kw = {"endpoint_url": aws, "region_name": local.REGION}
    ec2, gw2 = boto3.client("ec2", **kw), boto3.client("apigatewayv2", **kw)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]

    def subnet(zone_id: str, octet: int) -> str:
        return ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{octet}.0/24", AvailabilityZoneId=zone_id)[
            "Subnet"]["SubnetId"]

    return gw2, subnet


def test_a_subnet_in_an_unlisted_zone_is_refused_naming_it(network):
    gw2, subnet = network
    good, bad = subnet("use1-az1", 1), subnet("use1-az3", 2)  # us-east-1 lists az1, az2, az4, az5, az6
    with pytest.raises(ClientError) as refused:
        gw2.create_vpc_link(Name="pool", SubnetIds=[good, bad])
    assert refused.value.response["Error"]["Code"] == "BadRequestException"
    assert refused.value.response["Error"]["Message"] == (
        f"Subnet '{bad}' is in Availability Zone 'use1-az3' where service is not available")
    assert gw2.get_vpc_links()["Items"] == []


def test_subnets_in_listed_zones_make_the_link(network):
    gw2, subnet = network
    link = gw2.create_vpc_link(Name="pool", SubnetIds=[subnet("use1-az6", 1), subnet("use1-az1", 2)])
    assert sorted(gw2.get_vpc_link(VpcLinkId=link["VpcLinkId"])["SubnetIds"]) == sorted(link["SubnetIds"])
