"""The local AWS keeps `integrationTarget` on REST API integrations through a VPC link V2, as AWS does since
November 2025, and refuses what AWS refuses. Unpatched moto drops the field and accepts anything."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from portico_cli.local_aws import account as local


@pytest.fixture
def world(aws):
    kw = {"endpoint_url": aws, "region_name": local.REGION}
    gw, gw2, elb, ec2 = (boto3.client(s, **kw) for s in ("apigateway", "apigatewayv2", "elbv2", "ec2"))
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone=f"{local.REGION}a")[
        "Subnet"]["SubnetId"]  # a zone VPC links V2 are available in (test_vpclink_zones.py)
    nlbs = [elb.create_load_balancer(Name=f"nlb{i}", Type="network", Scheme="internal",
                                     Subnets=[subnet])["LoadBalancers"][0]["LoadBalancerArn"] for i in range(2)]
    v1 = gw.create_vpc_link(name="v1", targetArns=[nlbs[0]])["id"]
    v2 = gw2.create_vpc_link(Name="v2", SubnetIds=[subnet])["VpcLinkId"]
    rest = gw.create_rest_api(name="shared")["id"]
    root = gw.get_resources(restApiId=rest)["items"][0]["id"]
    res = gw.create_resource(restApiId=rest, parentId=root, pathPart="orders")["id"]
    gw.put_method(restApiId=rest, resourceId=res, httpMethod="ANY", authorizationType="NONE")
    return gw, rest, res, v1, v2, nlbs


def put(gw, rest, res, **kw):
    return gw.put_integration(restApiId=rest, resourceId=res, httpMethod="ANY", type="HTTP_PROXY",
                              integrationHttpMethod="ANY", uri="http://orders.internal:80/", **kw)


def test_one_v2_link_serves_each_load_balancer_named_by_integration_target(world):
    gw, rest, res, _, v2, nlbs = world
    out = put(gw, rest, res, connectionType="VPC_LINK", connectionId=v2, integrationTarget=nlbs[1])
    assert out["integrationTarget"] == nlbs[1]
    got = gw.get_integration(restApiId=rest, resourceId=res, httpMethod="ANY")
    assert (got["connectionId"], got["integrationTarget"]) == (v2, nlbs[1])
    listed = gw.get_resources(restApiId=rest, embed=["methods"])["items"]
    [orders] = [r for r in listed if r["path"] == "/orders"]
    assert orders["resourceMethods"]["ANY"]["methodIntegration"]["integrationTarget"] == nlbs[1]
    # Back to the V1 link (a migration back): no target is reported any more.
    put(gw, rest, res, connectionType="VPC_LINK", connectionId=world[3])
    assert "integrationTarget" not in gw.get_integration(restApiId=rest, resourceId=res, httpMethod="ANY")


@pytest.mark.parametrize("case,fragment", [
    ("internet", "supported only for private integrations"),
    ("v1", "is a VPC link V1"),
    ("missing-lb", "not found"),
    ("v2-without-target", "requires integrationTarget"),
])
def test_integration_target_rules_refused_with_the_field_named(world, case, fragment):
    gw, rest, res, v1, v2, nlbs = world
    put(gw, rest, res, connectionType="VPC_LINK", connectionId=v2, integrationTarget=nlbs[0])
    kw = {"internet": {"integrationTarget": nlbs[0]},
          "v1": {"connectionType": "VPC_LINK", "connectionId": v1, "integrationTarget": nlbs[0]},
          "missing-lb": {"connectionType": "VPC_LINK", "connectionId": v2,
                         "integrationTarget": nlbs[0].replace("nlb0", "gone")},
          "v2-without-target": {"connectionType": "VPC_LINK", "connectionId": v2}}[case]
    with pytest.raises(ClientError) as e:
        put(gw, rest, res, **kw)
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    assert fragment in e.value.response["Error"]["Message"]
    # The refused call changed nothing.
    got = gw.get_integration(restApiId=rest, resourceId=res, httpMethod="ANY")
    assert (got["connectionId"], got["integrationTarget"]) == (v2, nlbs[0])


def test_cloudformation_makes_a_vpc_link_v2_that_integrations_can_name(world, aws):
    gw, rest, res, _, _, nlbs = world
    kw = {"endpoint_url": aws, "region_name": local.REGION}
    cfn, gw2, ec2 = (boto3.client(s, **kw) for s in ("cloudformation", "apigatewayv2", "ec2"))
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    body = {"Resources": {"Link": {"Type": "AWS::ApiGatewayV2::VpcLink",
                                   "Properties": {"Name": "pool", "SubnetIds": [subnet]}}},
            "Outputs": {"LinkId": {"Value": {"Ref": "Link"}}}}
    cfn.create_stack(StackName="links", TemplateBody=json.dumps(body))
    [stack] = cfn.describe_stacks(StackName="links")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    link = stack["Outputs"][0]["OutputValue"]
    assert gw2.get_vpc_link(VpcLinkId=link)["SubnetIds"] == [subnet]
    put(gw, rest, res, connectionType="VPC_LINK", connectionId=link, integrationTarget=nlbs[0])
    cfn.delete_stack(StackName="links")
    assert link not in [v["VpcLinkId"] for v in gw2.get_vpc_links()["Items"]]


def _stack_with_a_link_and_an_api(cfn, gw, nlb: str, name: str, *, ordered: bool) -> tuple[str, str]:
    """A stack of a VPC link v1 and a REST API (the API depending on the link when `ordered`), and a stage of
    that API serving a deployment through the link, as portico makes them after the stack."""
    api = {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": name}}
    if ordered:
        api["DependsOn"] = "Link"
    body = {"Resources": {"Link": {"Type": "AWS::ApiGateway::VpcLink",
                                   "Properties": {"Name": name, "TargetArns": [nlb]}},
                          "Api": api},
            "Outputs": {"Api": {"Value": {"Ref": "Api"}}, "Link": {"Value": {"Ref": "Link"}}}}
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(body))
    out = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]}
    root = gw.get_resources(restApiId=out["Api"])["items"][0]["id"]
    res = gw.create_resource(restApiId=out["Api"], parentId=root, pathPart="orders")["id"]
    gw.put_method(restApiId=out["Api"], resourceId=res, httpMethod="ANY", authorizationType="NONE")
    put(gw, out["Api"], res, connectionType="VPC_LINK", connectionId=out["Link"])
    gw.create_deployment(restApiId=out["Api"], stageName="dev")
    return out["Api"], out["Link"]


def test_a_stack_delete_that_would_break_a_link_in_use_fails_and_can_be_retried(world, aws):
    """CloudFormation deletes resources with no dependency between them in parallel, so a VPC link may go
    before the API whose stage still routes through it: AWS refuses that delete and the stack ends
    DELETE_FAILED (it stays, and a second delete finishes). The emulator takes that order among the resources
    free to go (the earliest created first) and never retries a failure."""
    gw, nlbs = world[0], world[5]
    kw = {"endpoint_url": aws, "region_name": local.REGION}
    cfn = boto3.client("cloudformation", **kw)
    api, link = _stack_with_a_link_and_an_api(cfn, gw, nlbs[1], "unordered", ordered=False)
    cfn.delete_stack(StackName="unordered")
    [stack] = cfn.describe_stacks(StackName="unordered")["Stacks"]
    assert stack["StackStatus"] == "DELETE_FAILED"
    failed = [e for e in cfn.describe_stack_events(StackName="unordered")["StackEvents"]
              if e["ResourceStatus"] == "DELETE_FAILED" and e["LogicalResourceId"] == "Link"]
    assert failed and "Cannot delete vpc link" in failed[0]["ResourceStatusReason"]
    assert link in [v["id"] for v in gw.get_vpc_links()["items"]]
    assert api not in [a["id"] for a in gw.get_rest_apis()["items"]]  # the API went; its stage with it
    cfn.delete_stack(StackName="unordered")  # nothing routes through the link now
    assert link not in [v["id"] for v in gw.get_vpc_links()["items"]]
    assert "unordered" not in [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]

    # The API depending on the link: the API (and its stages) go first, then the link, in one delete.
    api, link = _stack_with_a_link_and_an_api(cfn, gw, nlbs[1], "ordered", ordered=True)
    cfn.delete_stack(StackName="ordered")
    assert "ordered" not in [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]
    assert link not in [v["id"] for v in gw.get_vpc_links()["items"]]
