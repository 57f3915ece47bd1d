"""Custom domain names (DomainNames stage=domain pairs): what the template makes for each set of parameters, as
CloudFormation would evaluate it (template_support.Deployed). No tools, no AWS: the emulator's deploy is
tests/template/test_deploy.py's, the routing tests/dataplane/test_domains.py's."""

from __future__ import annotations

import pytest
from template_support import FUNCTIONS, Deployed

from portico.settings import Settings

DOMAIN_TYPES = ("AWS::ApiGateway::DomainName", "AWS::ApiGatewayV2::RoutingRule", "AWS::Route53::RecordSet",
                "AWS::CloudFormation::WaitConditionHandle")
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0e5c2f4a-1111-2222-3333-444455556666"
TWO = {"StageNames": "dev,qa,prod", "DomainNames": "prod=api.example.com,dev=api.dev.example.com",
       "CertificateArn": CERT}


def made(stack: Deployed, *types: str) -> set[str]:
    return {name for t in types for name in stack.of_type(t)}


def test_without_domains_nothing_is_added_and_the_api_is_unchanged(template):
    stack = Deployed(template, StageNames="dev,qa,prod")
    assert not {n for n in made(stack, *DOMAIN_TYPES) if n.startswith(("Domain", "Stages"))}
    assert not any(stack.exists(n) for n in template["Resources"] if n.startswith(("Domain", "StagesReady")))
    assert "DisableExecuteApiEndpoint" not in stack.resolve(template["Resources"]["RestApi"]["Properties"])
    for name, out in template["Outputs"].items():
        if name.startswith("Domain"):
            assert not stack.condition(out["Condition"]), name
    assert all(stack.function_env(f)["PORTICO_DOMAINS"] == "" for f in FUNCTIONS)


def test_each_domain_is_regional_on_the_certificate_and_its_rule_invokes_its_stage(template):
    stack = Deployed(template, **TWO)
    domains = {n: stack.resolve(template["Resources"][n]["Properties"]) for n in stack.of_type(DOMAIN_TYPES[0])}
    assert {n: d["DomainName"] for n, d in domains.items()} == {"Domain1": "api.example.com",
                                                               "Domain2": "api.dev.example.com"}
    for d in domains.values():
        assert d["RegionalCertificateArn"] == CERT and d["EndpointConfiguration"]["Types"] == ["REGIONAL"]
        assert (d["SecurityPolicy"], d["RoutingMode"]) == ("TLS_1_2", "ROUTING_RULE_ONLY")
        assert "EndpointAccessMode" not in d  # a legacy policy takes none
    rules = {n: stack.resolve(template["Resources"][n]["Properties"]) for n in stack.of_type(DOMAIN_TYPES[1])}
    assert set(rules) == {"Domain1Route", "Domain2Route"}
    for n, stage in (("Domain1Route", "prod"), ("Domain2Route", "dev")):
        rule = rules[n]
        assert rule["Conditions"] == [] and rule["Priority"] == 1000  # the catch-all
        assert rule["Actions"] == [{"InvokeApi": {"ApiId": stack.ref("RestApi"), "Stage": stage}}]
        assert rule["DomainNameArn"] == f"<Domain{n[6]}.DomainNameArn>"
        assert template["Resources"][n]["DependsOn"] == "StagesReady"
    handle = stack.resolve(template["Resources"]["StagesReady"]["Metadata"])
    assert handle == {"Stage1": stack.ref("Stage1"), "Stage2": stack.ref("Stage2"), "Stage3": stack.ref("Stage3")}
    assert not made(stack, "AWS::Route53::RecordSet"), "no hosted zone: the user points DNS at DomainTargets"
    env = stack.function_env("RegistryStreamFunction")
    settings = Settings.from_env({**env, "PORTICO_REST_API_ID": "x"})
    assert (settings.domain("prod"), settings.domain("dev"), settings.domain("qa")) == (
        "api.example.com", "api.dev.example.com", None)
    out = stack.resolve(template["Outputs"]["DomainUrls"]["Value"])
    assert out == "prod=https://" + stack.ref("Domain1") + ",dev=https://" + stack.ref("Domain2")


def test_a_header_route_goes_before_the_catch_all_on_every_domain(template):
    stack = Deployed(template, **TWO, HeaderRoute="x-api-version:beta*=qa")
    for i in (1, 2):
        rule = stack.resolve(template["Resources"][f"Domain{i}HeaderRoute"]["Properties"])
        assert rule["Priority"] < 1000
        assert rule["Conditions"] == [{"MatchHeaders": {"AnyOf": [{"Header": "x-api-version", "ValueGlob": "beta*"}]}}]
        assert rule["Actions"] == [{"InvokeApi": {"ApiId": stack.ref("RestApi"), "Stage": "qa"}}]
    assert not stack.exists("Domain3HeaderRoute")


def test_alias_records_tls_and_the_default_endpoint_are_options(template):
    stack = Deployed(template, **TWO, HostedZoneId="Z0123456789EXAMPLE", DisableExecuteApiEndpoint="true",
                     DomainSecurityPolicy="SecurityPolicy_TLS13_1_3_2025_09")
    records = [stack.resolve(template["Resources"][n]["Properties"]) for n in stack.of_type(DOMAIN_TYPES[2])]
    assert sorted((r["Name"], r["Type"]) for r in records) == sorted(
        (stack.ref(d), t) for d in ("Domain1", "Domain2") for t in ("A", "AAAA"))
    assert all(r["AliasTarget"]["DNSName"].endswith(".RegionalDomainName>") for r in records)
    domain = stack.resolve(template["Resources"]["Domain1"]["Properties"])
    assert domain["EndpointConfiguration"]["IpAddressType"] == "dualstack"  # the AAAA alias needs IPv6
    assert (domain["SecurityPolicy"], domain["EndpointAccessMode"]) == ("SecurityPolicy_TLS13_1_3_2025_09", "STRICT")
    assert stack.resolve(template["Resources"]["RestApi"]["Properties"])["DisableExecuteApiEndpoint"] is True


@pytest.mark.parametrize("value", ["prod=API.example.com", "prod=api.example.com,", "prod api.example.com",
                                   "a=x.com,b=y.com,c=z.com,d=w.com"])
def test_bad_domain_names_are_refused_by_the_parameter(template, value):
    import re

    assert not re.fullmatch(template["Parameters"]["DomainNames"]["AllowedPattern"], value)


def test_the_rules_need_a_certificate_and_domains_for_the_options(template):
    rules = template["Rules"]
    assert rules["DomainsNeedCertificate"]["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]}
    asserted = [a["Assert"] for a in rules["DomainOptionsNeedDomains"]["Assertions"]]
    assert {"Fn::Equals": [{"Ref": "HeaderRoute"}, ""]} in asserted
    assert {"Fn::Equals": [{"Ref": "DisableExecuteApiEndpoint"}, "false"]} in asserted
