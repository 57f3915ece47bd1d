"""template.yaml with two custom domain names, deployed as `sam deploy` does into the emulator's CloudFormation
(test_deploy's packaged template and fresh account): each domain routes to its stage, a header rule sends one
to another stage, the alias records and outputs are made; a domain another stack has, or a certificate from
another Region, fails the deploy with CloudFormation's event naming it."""
# ruff: noqa: F811 - `world` is test_deploy's module fixture, imported so this module shares its set-up

from __future__ import annotations

import boto3
import pytest
from test_deploy import (  # noqa: F401 - the fixtures
    TEMPLATE_URL,
    events,
    failures,
    params,
    past_the_deploy_interval,
    wait_settled,
    world,
)

from portico_cli.local_aws import account as local
from portico_cli.local_aws.certificates import issued_certificate

pytestmark = pytest.mark.tools

PROD, DEV = "api.example.com", "api.dev.example.com"


def create(world, name: str, **values: str) -> dict:
    cfn = world["clients"]["cloudformation"]
    cfn.create_stack(StackName=name, TemplateURL=TEMPLATE_URL, Capabilities=["CAPABILITY_IAM"],
                     Parameters=params(world, StageNames="dev,prod", **values))
    return wait_settled(cfn, name)


@pytest.fixture(scope="module")
def domains(world) -> dict:
    endpoint = world["endpoint"]
    r53 = boto3.client("route53", endpoint_url=endpoint, region_name=local.REGION)
    zone = r53.create_hosted_zone(Name="example.com", CallerReference="portico-domains")["HostedZone"]["Id"]
    cert = issued_certificate(endpoint, "*.example.com", "*.dev.example.com")
    description = create(world, "portico-domains", DomainNames=f"prod={PROD},dev={DEV}", CertificateArn=cert,
                         HostedZoneId=zone.split("/")[-1], HeaderRoute="x-api-version:beta*=dev",
                         DisableExecuteApiEndpoint="true")
    assert description["StackStatus"] == "CREATE_COMPLETE", events(world["clients"]["cloudformation"],
                                                                   "portico-domains")
    return {"outputs": {o["OutputKey"]: o["OutputValue"] for o in description["Outputs"]}, "cert": cert,
            "zone": zone, "r53": r53}


def test_each_domain_is_made_and_its_rules_send_it_to_its_stage(world, domains):
    c, out = world["clients"], domains["outputs"]
    assert out["DomainUrls"] == f"prod=https://{PROD},dev=https://{DEV}"
    for name, stage in ((PROD, "prod"), (DEV, "dev")):
        domain = c["apigateway"].get_domain_name(domainName=name)
        assert (domain["routingMode"], domain["regionalCertificateArn"]) == ("ROUTING_RULE_ONLY", domains["cert"])
        assert f"{name}={domain['regionalDomainName']}" in out["DomainTargets"].split(",")
        rules = c["apigatewayv2"].list_routing_rules(DomainName=name)["RoutingRules"]
        assert [(r["Priority"], r["Actions"][0]["InvokeApi"]["Stage"], r["Conditions"]) for r in rules] == [
            (100, "dev", [{"MatchHeaders": {"AnyOf": [{"Header": "x-api-version", "ValueGlob": "beta*"}]}}]),
            (1000, stage, [])]
        assert {r["Actions"][0]["InvokeApi"]["ApiId"] for r in rules} == {out["RestApiId"]}
    # DisableExecuteApiEndpoint=true: the domains are the only way in.
    assert c["apigateway"].get_rest_api(restApiId=out["RestApiId"])["disableExecuteApiEndpoint"] is True


def test_each_domain_has_a_and_aaaa_aliases_to_its_regional_name(world, domains):
    records = domains["r53"].list_resource_record_sets(HostedZoneId=domains["zone"])["ResourceRecordSets"]
    aliases = {(r["Name"].rstrip("."), r["Type"]): r["AliasTarget"]["DNSName"].rstrip(".")
               for r in records if "AliasTarget" in r}
    for name in (PROD, DEV):
        regional = world["clients"]["apigateway"].get_domain_name(domainName=name)["regionalDomainName"]
        assert aliases[(name, "A")] == aliases[(name, "AAAA")] == regional


def test_the_functions_know_the_domains(world, domains):
    fn = world["clients"]["lambda"].get_function(FunctionName=domains["outputs"]["RegistryStreamFunctionName"])
    assert fn["Configuration"]["Environment"]["Variables"]["PORTICO_DOMAINS"] == f"prod={PROD},dev={DEV}"


def test_a_domain_another_stack_has_fails_the_deploy_naming_that_stack(world, domains):
    cfn = world["clients"]["cloudformation"]
    description = create(world, "portico-again", DomainNames=f"prod={PROD}", CertificateArn=domains["cert"])
    assert description["StackStatus"] == "ROLLBACK_COMPLETE"
    owner = cfn.describe_stacks(StackName="portico-domains")["Stacks"][0]["StackId"]
    assert ("Domain1", "CREATE_FAILED", f"{PROD} already exists in stack {owner}") in events(cfn, "portico-again")


def test_a_certificate_from_another_region_fails_the_deploy(world, domains):
    cfn = world["clients"]["cloudformation"]
    elsewhere = issued_certificate(world["endpoint"], "*.example.com", region="eu-west-1")
    description = create(world, "portico-elsewhere", DomainNames="prod=shop.example.com", CertificateArn=elsewhere)
    assert description["StackStatus"] == "ROLLBACK_COMPLETE"
    failed = [reason for name, status, reason in events(cfn, "portico-elsewhere")
              if (name, status) == ("Domain1", "CREATE_FAILED")]
    assert failed and failed[0].startswith(f"Invalid certificate ARN: {elsewhere}. Certificate must be in "
                                           f"'{local.REGION}'."), failed


def test_a_stack_update_changes_the_header_rule_and_the_certificate_in_place(world, domains):
    """HeaderRoute and CertificateArn changed: the rules and the domains are updated with no interruption (the
    same rule ids, PutRoutingRule; UpdateDomainName), not made again beside the old ones (which would collide
    on their priority and name)."""
    cfn, gw2 = world["clients"]["cloudformation"], world["clients"]["apigatewayv2"]
    before = {r["Priority"]: r["RoutingRuleId"] for r in gw2.list_routing_rules(DomainName=PROD)["RoutingRules"]}
    renewed = issued_certificate(world["endpoint"], "*.example.com", "*.dev.example.com")  # a certificate rotated
    change = cfn.create_change_set(
        StackName="portico-domains", ChangeSetName="canary-to-prod", ChangeSetType="UPDATE",
        TemplateURL=TEMPLATE_URL, Capabilities=["CAPABILITY_IAM"],
        Parameters=params(world, StageNames="dev,prod", DomainNames=f"prod={PROD},dev={DEV}",
                          CertificateArn=renewed, HostedZoneId=domains["zone"].split("/")[-1],
                          HeaderRoute="x-canary:*=prod", DisableExecuteApiEndpoint="true"))["Id"]
    cfn.execute_change_set(ChangeSetName=change)
    assert wait_settled(cfn, "portico-domains")["StackStatus"] == "UPDATE_COMPLETE", failures(cfn, "portico-domains")
    rules = gw2.list_routing_rules(DomainName=DEV)["RoutingRules"]
    assert [(r["Priority"], r["Actions"][0]["InvokeApi"]["Stage"], r["Conditions"]) for r in rules] == [
        (100, "prod", [{"MatchHeaders": {"AnyOf": [{"Header": "x-canary", "ValueGlob": "*"}]}}]), (1000, "dev", [])]
    after = {r["Priority"]: r["RoutingRuleId"] for r in gw2.list_routing_rules(DomainName=PROD)["RoutingRules"]}
    assert after == before
    assert world["clients"]["apigateway"].get_domain_name(domainName=PROD)["regionalCertificateArn"] == renewed


def test_a_domain_for_a_stage_the_stack_lacks_is_refused_before_any_domain_is_made(world, domains):
    """The stack's first function to run (the account check) reads the settings as every function does, and
    refuses a DomainNames pair naming a stage StageNames lacks: the deploy fails naming both, and rolls back."""
    cfn = world["clients"]["cloudformation"]
    description = create(world, "portico-nostage", DomainNames="staging=staging.example.com",
                         CertificateArn=domains["cert"])
    assert description["StackStatus"] == "ROLLBACK_COMPLETE"
    reasons = [reason for _, status, reason in events(cfn, "portico-nostage") if status == "CREATE_FAILED"]
    assert any("PORTICO_DOMAINS: stage 'staging' must be one of PORTICO_STAGES=dev,prod (the template's "
               "DomainNames names stages of StageNames)" in r for r in reasons), reasons
    assert "staging.example.com" not in [d["domainName"] for d in world["clients"]["apigateway"].get_domain_names()
                                         ["items"]]
