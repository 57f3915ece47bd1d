"""The local AWS's PutRestApi merge import, GetResources paging and integration connectionId, as AWS does them
(docs/import.md). Each test fails on unpatched moto: it drops connectionId and security, makes a method called
X-AMAZON-APIGATEWAY-ANY-METHOD, duplicates resources on a re-import, keeps half an import after an error and
returns every resource whatever the limit."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from portico_cli.local_aws import account as local


@pytest.fixture
def api(aws):
    gw = boto3.client("apigateway", endpoint_url=aws, region_name=local.REGION)
    elb = boto3.client("elbv2", endpoint_url=aws, region_name=local.REGION)
    ec2 = boto3.client("ec2", endpoint_url=aws, region_name=local.REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    nlb = elb.create_load_balancer(Name="nlb", Type="network", Scheme="internal",
                                   Subnets=[subnet])["LoadBalancers"][0]["LoadBalancerArn"]
    link = gw.create_vpc_link(name="link", targetArns=[nlb])["id"]
    rest = gw.create_rest_api(name="shared", description="the shared API")["id"]
    return gw, rest, link


def route(link: str, port: int = 10000, proxy: bool = False, **op) -> dict:
    integration = {"type": "http_proxy", "httpMethod": "ANY", "connectionType": "VPC_LINK", "connectionId": link,
                   "uri": f"http://nlb.internal:{port}/" + ("{proxy}" if proxy else ""),
                   "passthroughBehavior": "when_no_match", "timeoutInMillis": 29000}
    if proxy:
        integration["requestParameters"] = {"integration.request.path.proxy": "method.request.path.proxy"}
        op.setdefault("parameters", [{"name": "proxy", "in": "path", "required": True}])
    return {"x-amazon-apigateway-any-method": {"responses": {}, "x-amazon-apigateway-integration": integration,
                                               **op}}


def doc(paths: dict) -> bytes:
    return json.dumps({"openapi": "3.0.1", "info": {"title": "shared", "version": "1"}, "paths": paths,
                       "components": {"securitySchemes": {
                           "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}}}}).encode()


def resources(gw, rest) -> dict[str, dict]:
    out = {}
    for page in gw.get_paginator("get_resources").paginate(restApiId=rest, embed=["methods"],
                                                            PaginationConfig={"PageSize": 500}):
        out.update({r["path"]: r for r in page["items"]})
    return out


def test_merge_writes_any_method_with_vpc_link_auth_and_proxy_parameter(api):
    gw, rest, link = api
    gw.put_rest_api(restApiId=rest, mode="merge", failOnWarnings=True, body=doc({
        "/orders": route(link, security=[{"api_key": []}]),
        "/orders/{proxy+}": route(link, proxy=True, **{"x-amazon-apigateway-auth": {"type": "AWS_IAM"}})}))
    got = resources(gw, rest)
    assert set(got) == {"/", "/orders", "/orders/{proxy+}"}
    leaf = got["/orders"]["resourceMethods"]
    assert list(leaf) == ["ANY"]
    assert (leaf["ANY"]["authorizationType"], leaf["ANY"]["apiKeyRequired"]) == ("NONE", True)
    proxy = gw.get_method(restApiId=rest, resourceId=got["/orders/{proxy+}"]["id"], httpMethod="ANY")
    assert (proxy["authorizationType"], proxy["apiKeyRequired"]) == ("AWS_IAM", False)
    assert proxy["requestParameters"] == {"method.request.path.proxy": True}
    integration = proxy["methodIntegration"]
    assert (integration["type"], integration["connectionType"], integration["connectionId"]) == \
        ("HTTP_PROXY", "VPC_LINK", link)
    assert integration["uri"] == "http://nlb.internal:10000/{proxy}"
    assert integration["requestParameters"] == {"integration.request.path.proxy": "method.request.path.proxy"}


def test_reimport_reuses_resources_replaces_named_methods_and_keeps_the_rest(api):
    gw, rest, link = api
    gw.put_rest_api(restApiId=rest, mode="merge", body=doc({"/orders": route(link)}))
    orders = resources(gw, rest)["/orders"]["id"]
    gw.put_method(restApiId=rest, resourceId=orders, httpMethod="GET", authorizationType="NONE")  # foreign
    foreign = gw.create_resource(restApiId=rest, parentId=resources(gw, rest)["/"]["id"], pathPart="theirs")["id"]
    gw.put_rest_api(restApiId=rest, mode="merge", body=doc({"/orders": route(link, port=10001),
                                                            "/orders/v2": route(link, port=10002)}))
    got = resources(gw, rest)
    assert sorted(got) == ["/", "/orders", "/orders/v2", "/theirs"]  # no second /orders
    assert got["/orders"]["id"] == orders and got["/theirs"]["id"] == foreign
    assert set(got["/orders"]["resourceMethods"]) == {"ANY", "GET"}  # GET was not in the document: kept
    any_ = gw.get_integration(restApiId=rest, resourceId=orders, httpMethod="ANY")
    assert any_["uri"] == "http://nlb.internal:10001/"
    assert gw.get_rest_api(restApiId=rest)["description"] == "the shared API"


def test_an_error_names_method_and_path_and_changes_nothing(api):
    gw, rest, link = api
    before = resources(gw, rest)
    bad = route(link)
    bad["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]["uri"] = "not a url"
    with pytest.raises(ClientError) as exc:
        gw.put_rest_api(restApiId=rest, mode="merge", body=doc({"/good": route(link), "/bad": bad,
                                                                "/nolink": route("nope")}))
    err = exc.value.response["Error"]
    assert err["Code"] == "BadRequestException"
    assert err["Message"].startswith("Errors found during import:\n\t")
    assert "Unable to put integration on 'ANY' for resource at path '/bad': Invalid HTTP endpoint" in err["Message"]
    assert "at path '/nolink': Invalid VPC link ID specified: 'nope'" in err["Message"]
    assert "'/good'" not in err["Message"]
    assert resources(gw, rest) == before


def test_undeclared_mapping_parameter_and_bad_path_part_are_errors(api):
    gw, rest, link = api
    undeclared = route(link, proxy=True, parameters=[])
    with pytest.raises(ClientError) as exc:
        gw.put_rest_api(restApiId=rest, mode="merge", body=doc({"/a/{proxy+}": undeclared, "/b c": route(link)}))
    msg = exc.value.response["Error"]["Message"]
    assert "at path '/a/{proxy+}': Invalid mapping expression specified" in msg
    assert "Invalid mapping expression parameter specified: method.request.path.proxy" in msg
    assert "Unable to create resource at path '/b c': Resource's path part only allow" in msg


def test_failure_while_writing_rolls_back(api, monkeypatch):
    from moto.apigateway.models import APIGatewayBackend

    gw, rest, link = api
    gw.put_rest_api(restApiId=rest, mode="merge", body=doc({"/kept": route(link)}))
    before = resources(gw, rest)
    create = APIGatewayBackend.create_resource
    calls = []

    def fail_third(self, *args, **kwargs):
        calls.append(args or kwargs)
        if len(calls) == 3:
            from moto.apigateway.exceptions import BadRequestException
            raise BadRequestException("quota")
        return create(self, *args, **kwargs)

    monkeypatch.setattr(APIGatewayBackend, "create_resource", fail_third)
    with pytest.raises(ClientError):
        gw.put_rest_api(restApiId=rest, mode="merge", body=doc({"/kept": route(link, port=10009),
                                                                "/x": route(link), "/y": route(link),
                                                                "/z": route(link)}))
    assert resources(gw, rest) == before


def test_warnings_fail_on_request_and_are_returned_otherwise(api):
    gw, rest, link = api
    paths = {"/w": {**route(link), "trace": {"responses": {}}}}
    with pytest.raises(ClientError) as exc:
        gw.put_rest_api(restApiId=rest, mode="merge", failOnWarnings=True, body=doc(paths))
    assert exc.value.response["Error"]["Message"].startswith("Warnings found during import:")
    assert "/w" not in resources(gw, rest)
    out = gw.put_rest_api(restApiId=rest, mode="merge", failOnWarnings=False, body=doc(paths))
    assert out["warnings"] == ["Parse issue: attribute paths.'/w'.trace is unexpected"]
    assert "/w" in resources(gw, rest)


def test_get_resources_pages_by_limit_and_position(api):
    gw, rest, link = api
    gw.put_rest_api(restApiId=rest, mode="merge", body=doc({f"/s{i}": route(link) for i in range(30)}))
    first = gw.get_resources(restApiId=rest)
    assert len(first["items"]) == 25 and "position" in first
    second = gw.get_resources(restApiId=rest, position=first["position"], limit=500)
    assert len(second["items"]) == 6 and "position" not in second
    assert {r["id"] for r in first["items"]}.isdisjoint({r["id"] for r in second["items"]})
    with pytest.raises(ClientError) as exc:
        gw.get_resources(restApiId=rest, limit=501)
    assert exc.value.response["Error"]["Code"] == "BadRequestException"


def test_put_integration_keeps_connection_id(api):
    gw, rest, link = api
    root = resources(gw, rest)["/"]["id"]
    gw.put_method(restApiId=rest, resourceId=root, httpMethod="GET", authorizationType="NONE")
    put = gw.put_integration(restApiId=rest, resourceId=root, httpMethod="GET", type="HTTP_PROXY",
                             integrationHttpMethod="GET", uri="http://nlb.internal:10000/",
                             connectionType="VPC_LINK", connectionId=link)
    assert put["connectionId"] == link
    assert gw.get_integration(restApiId=rest, resourceId=root, httpMethod="GET")["connectionId"] == link


def test_body_over_6_mb_is_refused(api):
    gw, rest, link = api
    big = doc({"/big": route(link, description="x" * (6 * 1024 * 1024))})
    with pytest.raises(ClientError) as exc:
        gw.put_rest_api(restApiId=rest, mode="merge", body=big)
    assert exc.value.response["Error"]["Code"] == "BadRequestException"


def test_merge_keeps_a_vpc_link_v2_integrations_target_and_applies_put_integrations_rules(api, aws):
    gw, rest, v1 = api
    ec2 = boto3.client("ec2", endpoint_url=aws, region_name=local.REGION)
    elb = boto3.client("elbv2", endpoint_url=aws, region_name=local.REGION)
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    nlb = elb.describe_load_balancers(Names=["nlb"])["LoadBalancers"][0]["LoadBalancerArn"]
    v2 = boto3.client("apigatewayv2", endpoint_url=aws, region_name=local.REGION).create_vpc_link(
        Name="pool", SubnetIds=[subnet])["VpcLinkId"]

    def target(link: str, arn: str | None, proxy: bool = True) -> dict:
        r = route(link, proxy=proxy)
        if arn:
            r["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]["integrationTarget"] = arn
        return r

    gw.put_rest_api(restApiId=rest, mode="merge", failOnWarnings=True,
                    body=doc({"/orders": target(v2, nlb, proxy=False), "/orders/{proxy+}": target(v2, nlb)}))
    got = resources(gw, rest)
    for path in ("/orders", "/orders/{proxy+}"):
        integration = got[path]["resourceMethods"]["ANY"]["methodIntegration"]
        assert (integration["connectionId"], integration["integrationTarget"]) == (v2, nlb)
    for paths, why in (({"/a": target(v2, None)}, "requires integrationTarget"),  # a v2 link names its target
                       ({"/b": target(v1, nlb)}, "is a VPC link V1"),  # a v1 link sends to its own NLB
                       ({"/c": target(v2, nlb.replace("nlb/", "gone/"))}, "not found")):
        with pytest.raises(ClientError) as exc:
            gw.put_rest_api(restApiId=rest, mode="merge", failOnWarnings=True, body=doc(paths))
        message = exc.value.response["Error"]["Message"]
        assert message.startswith("Errors found during import:") and why in message
        assert f"at path '{next(iter(paths))}'" in message
    assert set(resources(gw, rest)) == {"/", "/orders", "/orders/{proxy+}"}  # nothing written by a refusal
