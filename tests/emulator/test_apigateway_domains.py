"""The local AWS takes REST custom domain names, their routing mode and routing rules with API Gateway's checks
(moto keeps any certificate, ignores routingMode and has no routing rules)."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from portico_cli.local_aws import account as local
from portico_cli.local_aws.certificates import issued_certificate
from portico_cli.local_aws.emulator.apigateway import DEPLOY_INTERVAL
from portico_cli.local_aws.emulator.apigateway_domains import RULES_PER_DOMAIN, covers


@pytest.fixture
def world(aws, monkeypatch):
    monkeypatch.setenv(DEPLOY_INTERVAL, "0")  # two deployments in a row: the rate is not what these tests check
    kw = {"endpoint_url": aws, "region_name": local.REGION}
    gw, gw2 = boto3.client("apigateway", **kw), boto3.client("apigatewayv2", **kw)
    api = gw.create_rest_api(name="shared", endpointConfiguration={"types": ["REGIONAL"]})["id"]
    root = gw.get_resources(restApiId=api)["items"][0]["id"]
    gw.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    gw.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    for stage in ("dev", "prod"):
        gw.create_deployment(restApiId=api, stageName=stage)
    cert = issued_certificate(aws, "*.example.com", "example.com")
    return {"gw": gw, "gw2": gw2, "api": api, "cert": cert, "endpoint": aws}


def create(world, name="api.example.com", **kw):
    args = {"domainName": name, "regionalCertificateArn": world["cert"],
            "endpointConfiguration": {"types": ["REGIONAL"]}, "securityPolicy": "TLS_1_2",
            "routingMode": "ROUTING_RULE_ONLY", **kw}
    return world["gw"].create_domain_name(**{k: v for k, v in args.items() if v is not None})


def rule(world, priority, stage, domain="api.example.com", conditions=()):
    return world["gw2"].create_routing_rule(
        DomainName=domain, Priority=priority, Conditions=list(conditions),
        Actions=[{"InvokeApi": {"ApiId": world["api"], "Stage": stage}}])


def refused(call, code: str, *words: str) -> str:
    with pytest.raises(ClientError) as error:
        call()
    message = error.value.response["Error"]["Message"]
    assert error.value.response["Error"]["Code"] == code, message
    for word in words:
        assert word in message, message
    return message


def test_a_wildcard_covers_one_label():
    assert covers(["*.example.com"], "api.example.com") and covers(["example.com"], "EXAMPLE.com")
    assert not covers(["*.example.com"], "a.b.example.com") and not covers(["*.example.com"], "example.com")


def test_a_regional_domain_reports_its_mode_arn_and_regional_target(world):
    out = create(world)
    assert out["routingMode"] == "ROUTING_RULE_ONLY"
    assert out["domainNameArn"] == f"arn:aws:apigateway:{local.REGION}::/domainnames/api.example.com"
    assert out["regionalDomainName"].endswith(f".execute-api.{local.REGION}.amazonaws.com")
    assert world["gw"].get_domain_name(domainName="api.example.com")["routingMode"] == "ROUTING_RULE_ONLY"
    assert create(world, "b.example.com", routingMode=None)["routingMode"] == "BASE_PATH_MAPPING_ONLY"


def test_the_certificate_must_be_in_the_region_issued_and_cover_the_name(world):
    other = issued_certificate(world["endpoint"], "api.example.com", region="eu-west-1")
    refused(lambda: create(world, regionalCertificateArn=other), "BadRequestException",
            f"Invalid certificate ARN: {other}. Certificate must be in '{local.REGION}'.")
    acm = boto3.client("acm", endpoint_url=world["endpoint"], region_name=local.REGION)
    pending = acm.request_certificate(DomainName="api.example.com", ValidationMethod="DNS")["CertificateArn"]
    refused(lambda: create(world, regionalCertificateArn=pending), "BadRequestException",
            pending, "PENDING_VALIDATION", "not ISSUED")
    refused(lambda: create(world, "api.other.org"), "BadRequestException", "does not cover api.other.org")
    refused(lambda: create(world, regionalCertificateArn=None), "BadRequestException", "regionalCertificateArn")


def test_a_name_that_exists_is_a_conflict_and_modes_and_policies_are_checked(world):
    create(world)
    refused(lambda: create(world), "ConflictException", "already exists")
    refused(lambda: create(world, "b.example.com", routingMode="RULES"), "BadRequestException", "routingMode")
    refused(lambda: create(world, "c.example.com", securityPolicy="SecurityPolicy_TLS13_1_3_2025_09"),
            "BadRequestException", "endpointAccessMode must be BASIC or STRICT")
    refused(lambda: create(world, "d.example.com", securityPolicy="SecurityPolicy_TLS13_2025_EDGE",
                           endpointAccessMode="STRICT"), "BadRequestException", "edge-optimized")
    out = create(world, "e.example.com", securityPolicy="SecurityPolicy_TLS13_1_3_2025_09", endpointAccessMode="STRICT")
    assert out["endpointAccessMode"] == "STRICT"


def test_routing_rules_are_listed_in_priority_order_and_checked(world):
    create(world)
    header = {"MatchHeaders": {"AnyOf": [{"Header": "x-api-version", "ValueGlob": "beta*"}]}}
    catch_all = rule(world, 1000, "prod")
    beta = rule(world, 100, "dev", conditions=[header])
    assert beta["RoutingRuleArn"].endswith(f"/domainnames/api.example.com/routingrules/{beta['RoutingRuleId']}")
    listed = world["gw2"].list_routing_rules(DomainName="api.example.com")["RoutingRules"]
    assert [(r["Priority"], r["Actions"][0]["InvokeApi"]["Stage"]) for r in listed] == [(100, "dev"), (1000, "prod")]
    assert listed[0]["Conditions"] == [header]
    first = world["gw2"].list_routing_rules(DomainName="api.example.com", MaxResults=1)
    second = world["gw2"].list_routing_rules(DomainName="api.example.com", MaxResults=1, NextToken=first["NextToken"])
    assert [r["Priority"] for r in first["RoutingRules"] + second["RoutingRules"]] == [100, 1000]
    assert "NextToken" not in second
    refused(lambda: rule(world, 1000, "dev"), "ConflictException", "priority 1000")
    loose = boto3.client("apigatewayv2", endpoint_url=world["endpoint"], region_name=local.REGION,
                         config=Config(parameter_validation=False))  # botocore checks the range too
    refused(lambda: rule({**world, "gw2": loose}, 1_000_001, "dev"), "BadRequestException", "1 to 1000000")
    refused(lambda: rule(world, 5, "qa"), "NotFoundException", "stage 'qa'")
    refused(lambda: rule(world, 6, "dev", conditions=[header, header, header]), "BadRequestException",
            "up to two matchHeaders")
    bad_glob = {"MatchHeaders": {"AnyOf": [{"Header": "x-api-version", "ValueGlob": "b*ta"}]}}
    refused(lambda: rule(world, 7, "dev", conditions=[bad_glob]), "BadRequestException", "valueGlob 'b*ta'")
    refused(lambda: rule(world, 8, "dev", domain="nope.example.com"), "NotFoundException")
    world["gw2"].put_routing_rule(DomainName="api.example.com", RoutingRuleId=catch_all["RoutingRuleId"],
                                  Priority=2000, Conditions=[],
                                  Actions=[{"InvokeApi": {"ApiId": world["api"], "Stage": "dev"}}])
    got = world["gw2"].get_routing_rule(DomainName="api.example.com", RoutingRuleId=catch_all["RoutingRuleId"])
    assert (got["Priority"], got["Actions"][0]["InvokeApi"]["Stage"]) == (2000, "dev")
    world["gw2"].delete_routing_rule(DomainName="api.example.com", RoutingRuleId=beta["RoutingRuleId"])
    assert len(world["gw2"].list_routing_rules(DomainName="api.example.com")["RoutingRules"]) == 1


def test_the_mode_decides_between_rules_and_mappings(world):
    create(world, "rules.example.com")
    create(world, "mappings.example.com", routingMode="BASE_PATH_MAPPING_ONLY")
    refused(lambda: world["gw"].create_base_path_mapping(domainName="rules.example.com", restApiId=world["api"],
                                                         stage="prod"), "BadRequestException", "ROUTING_RULE_ONLY")
    refused(lambda: rule(world, 1, "prod", domain="mappings.example.com"), "BadRequestException",
            "BASE_PATH_MAPPING_ONLY")
    world["gw"].create_base_path_mapping(domainName="mappings.example.com", restApiId=world["api"], stage="prod")


def test_fifty_rules_per_domain(world, monkeypatch):
    monkeypatch.setenv(RULES_PER_DOMAIN, "2")
    create(world)
    rule(world, 1, "dev")
    rule(world, 2, "prod")
    refused(lambda: rule(world, 3, "prod"), "LimitExceededException", "api.example.com has 2")


def test_update_domain_name_changes_what_aws_lets_change_and_checks_it_again(world):
    create(world)
    gw, endpoint = world["gw"], world["endpoint"]

    def update(**ops):
        return gw.update_domain_name(domainName="api.example.com", patchOperations=[
            {"op": "replace", "path": path.replace("__", "/"), "value": value} for path, value in ops.items()])

    renewed = issued_certificate(endpoint, "api.example.com")
    out = update(**{"/regionalCertificateArn": renewed, "/routingMode": "ROUTING_RULE_THEN_BASE_PATH_MAPPING"})
    assert (out["regionalCertificateArn"], out["routingMode"]) == (renewed, "ROUTING_RULE_THEN_BASE_PATH_MAPPING")
    other = issued_certificate(endpoint, "shop.example.org")
    refused(lambda: update(**{"/regionalCertificateArn": other}), "BadRequestException", "does not cover")
    refused(lambda: update(**{"/securityPolicy": "SecurityPolicy_TLS13_1_3_2025_09"}), "BadRequestException",
            "endpointAccessMode")
    out = update(**{"/securityPolicy": "SecurityPolicy_TLS13_1_3_2025_09", "/endpointAccessMode": "STRICT",
                    "/endpointConfiguration/ipAddressType": "dualstack"})
    assert (out["securityPolicy"], out["endpointAccessMode"], out["endpointConfiguration"]["ipAddressType"]) == (
        "SecurityPolicy_TLS13_1_3_2025_09", "STRICT", "dualstack")
    refused(lambda: update(**{"/domainName": "x.example.com"}), "BadRequestException", "Invalid patch path")
    assert gw.get_domain_name(domainName="api.example.com")["regionalCertificateArn"] == renewed
