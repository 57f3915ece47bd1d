"""What portico prints when a stage has a custom domain (PORTICO_DOMAINS): the entry's invokeUrl, `ls --stage`,
the OpenAPI servers, the doctor's domain check (certificate, the rule to the stage, a domain serving another
API) and its probe, on the local emulator with real domain names and routing rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import pytest

from portico.ops import domain as domain_check
from portico.ops.doctor import Doctor
from portico.ops.openapi import document
from portico.reconcile import Reconciler
from portico.registry import Registry
from portico_cli.local_aws import account as local
from portico_cli.local_aws.certificates import issued_certificate
from tests.conftest import spec_item

DEV, PROD = "api.dev.example.com", "api.example.com"


@pytest.fixture
def domains(stack, clients):
    """dev and prod on their own domains (routing rules to their stages); the settings that name them."""
    cert = issued_certificate(stack.endpoint_url, "*.example.com", "*.dev.example.com")
    gw2 = boto3.client("apigatewayv2", endpoint_url=stack.endpoint_url, region_name=local.REGION)
    for name, stage in ((DEV, "dev"), (PROD, "prod")):
        clients.apigateway.create_domain_name(domainName=name, regionalCertificateArn=cert,
                                              endpointConfiguration={"types": ["REGIONAL"]},
                                              routingMode="ROUTING_RULE_ONLY")
        gw2.create_routing_rule(DomainName=name, Priority=1000, Conditions=[],
                                Actions=[{"InvokeApi": {"ApiId": stack.rest_api_id, "Stage": stage}}])
    return {"settings": stack.with_(domains=(("dev", DEV), ("prod", PROD))), "cert": cert, "gw2": gw2}


def test_covers():
    assert domain_check.covers(["*.example.com"], "api.example.com")
    assert not domain_check.covers(["*.example.com"], "a.api.example.com")


def test_the_entry_is_told_its_url_on_the_domain(clients, domains):
    settings = domains["settings"]
    Registry(clients.dynamodb, settings.registry_table).put_spec(spec_item("orders"))
    status = Reconciler(clients, settings, sleep=lambda s: None).run().statuses["orders"]
    assert (status.status, status.invoke_url) == ("READY", f"https://{DEV}/orders")
    assert document(clients, settings, "prod")["servers"] == [{"url": f"https://{PROD}"}]
    assert document(clients, settings.with_(domains=()), "prod")["servers"][0]["url"].endswith(
        ".amazonaws.com/prod")


def test_ls_shows_each_stages_url_on_its_domain(clients, domains, tmp_path):
    settings = domains["settings"]
    Registry(clients.dynamodb, settings.registry_table).put_spec(spec_item("orders"))
    Reconciler(clients, settings, sleep=lambda s: None).run()
    env = {**os.environ, **settings.to_env(), "COLUMNS": "200"}

    def ls(*args):
        done = subprocess.run([sys.executable, "-m", "portico_cli", "ls", "--json", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout, done.stderr

    code, out, _ = ls()
    assert code == 0 and json.loads(out)[0]["invokeUrl"] == f"https://{DEV}/orders"
    code, out, _ = ls("--stage", "prod")
    assert code == 0 and json.loads(out)[0]["invokeUrl"] == f"https://{PROD}/orders"
    code, _, err = ls("--stage", "staging")
    assert code == 4 and "--stage: 'staging' is not a stage" in err


def test_the_doctor_checks_the_domain_its_certificate_and_its_rule(clients, domains):
    settings = domains["settings"]
    Registry(clients.dynamodb, settings.registry_table).put_spec(spec_item("orders"))
    Reconciler(clients, settings, sleep=lambda s: None).run()
    (ok,) = [c for c in Doctor(clients, settings).run("orders") if c.link == f"custom domain {DEV}"]
    assert ok.ok and "stage dev (routing rule 1000)" in ok.detail, ok
    # No such domain (a typo in DomainNames, or the stack not deployed with it).
    missing = domain_check.check(clients, settings.with_(domains=(("dev", "api.typo.example.com"),)), "dev")
    assert not missing.ok and "not a custom domain name" in missing.detail and "DomainNames" in missing.fix
    # The domain sends its requests elsewhere (here: another stage; a foreign API reads the same).
    rules = domains["gw2"].list_routing_rules(DomainName=PROD)["RoutingRules"]
    clients.apigateway.delete_domain_name(domainName=PROD)
    clients.apigateway.create_domain_name(domainName=PROD, regionalCertificateArn=domains["cert"],
                                          endpointConfiguration={"types": ["REGIONAL"]},
                                          routingMode="ROUTING_RULE_ONLY")
    assert rules and not domains["gw2"].list_routing_rules(DomainName=PROD)["RoutingRules"]
    domains["gw2"].create_routing_rule(DomainName=PROD, Priority=1, Conditions=[],
                                       Actions=[{"InvokeApi": {"ApiId": settings.rest_api_id, "Stage": "qa"}}])
    foreign = domain_check.check(clients, settings, "prod")
    assert not foreign.ok and f"API {settings.rest_api_id} stage qa" in foreign.detail, foreign
    # The certificate is gone from ACM (deleted, or the domain's is another account's).
    boto3.client("acm", endpoint_url=settings.endpoint_url, region_name=local.REGION).delete_certificate(
        CertificateArn=domains["cert"])
    gone = domain_check.check(clients, settings, "dev")
    assert not gone.ok and gone.detail.startswith(f"certificate {domains['cert']}") and "CertificateArn" in gone.fix


def test_promote_moves_the_deployment_and_leaves_the_domains(clients, domains):
    """A domain follows its stage: after dev → prod, prod's domain routes to prod as before and serves what
    prod now runs; no rule or domain was touched."""
    from portico.ops.stages import Stages

    settings = domains["settings"]
    Registry(clients.dynamodb, settings.registry_table).put_spec(spec_item("orders"))
    Reconciler(clients, settings.with_(stages=("dev", "qa", "prod")), sleep=lambda s: None).run()
    rules = domain_check.routing_rules(domains["gw2"], PROD)
    before = {k: v for k, v in clients.apigateway.get_domain_name(domainName=PROD).items() if k != "ResponseMetadata"}
    Stages(clients.apigateway, clients.dynamodb, settings.with_(stages=("dev", "qa", "prod"))).promote("dev", "prod")
    assert domain_check.routing_rules(domains["gw2"], PROD) == rules
    assert {k: v for k, v in clients.apigateway.get_domain_name(domainName=PROD).items()
            if k != "ResponseMetadata"} == before
    assert domain_check.check(clients, settings, "prod").ok
