"""Custom domain names through the local gateway: a request is routed by its Host header, the domain's routing
rules applied in priority order (a header rule sends one domain's requests to another stage), then its base
path mappings where its routing mode allows them."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from portico_cli.local_aws import account as local
from portico_cli.local_aws.certificates import issued_certificate
from portico_cli.local_aws.dataplane.domains import Domain, Rule, glob_matches, resolve

from .conftest import spec_item, start_plane

PROD, DEV, LEGACY, CLOSED = "api.example.com", "api.dev.example.com", "legacy.example.com", "closed.example.com"
BETA = {"MatchHeaders": {"AnyOf": [{"Header": "x-api-version", "ValueGlob": "beta*"}]}}


@pytest.fixture(scope="module")
def served(local_stack):
    stack = local_stack
    stack.onboard(spec_item("orders"))
    gw, api = stack.clients.apigateway, stack.settings.rest_api_id
    gw2 = local.session(stack.settings.endpoint_url).client("apigatewayv2", endpoint_url=stack.settings.endpoint_url)
    cert = issued_certificate(stack.settings.endpoint_url, "*.example.com", "*.dev.example.com")
    for name, mode in ((PROD, "ROUTING_RULE_ONLY"), (DEV, "ROUTING_RULE_ONLY"), (CLOSED, "ROUTING_RULE_ONLY"),
                       (LEGACY, "BASE_PATH_MAPPING_ONLY")):
        gw.create_domain_name(domainName=name, regionalCertificateArn=cert, routingMode=mode,
                              endpointConfiguration={"types": ["REGIONAL"]}, securityPolicy="TLS_1_2")

    def rule(domain, priority, stage, conditions=()):
        gw2.create_routing_rule(DomainName=domain, Priority=priority, Conditions=list(conditions),
                                Actions=[{"InvokeApi": {"ApiId": api, "Stage": stage}}])

    rule(PROD, 1000, "prod")
    rule(PROD, 100, "dev", [BETA])  # the canary: x-api-version beta* goes to dev, before the catch-all
    rule(DEV, 1000, "dev")
    rule(CLOSED, 10, "dev", [BETA])  # no catch-all: anything else is refused
    gw.create_base_path_mapping(domainName=LEGACY, restApiId=api, basePath="v1", stage="dev")
    start_plane(stack)
    assert stack.wait_for("/orders").status_code == 200
    return stack


def get(stack, host: str, path: str = "/orders", **headers):
    return stack.http.get(f"{stack.plane.url}{path}", headers={"host": host, **headers})


def test_each_domain_reaches_its_stage(served):
    dev = get(served, DEV)
    assert dev.status_code == 200 and dev.json()["service"] == "orders" and dev.json()["path"] == "/"
    assert get(served, DEV, "/orders/items/7").json()["path"] == "/items/7"
    prod = get(served, PROD)  # orders is deployed to dev only: prod has no such route yet
    assert (prod.status_code, prod.json()) == (403, {"message": "Missing Authentication Token"})
    # The default endpoint still serves /{stage}/... beside the domains.
    assert served.http.get(served.url("/orders")).status_code == 200


def test_a_header_rule_sends_a_domains_requests_to_another_stage(served):
    assert get(served, PROD, **{"x-api-version": "beta-2"}).status_code == 200
    assert get(served, PROD, **{"X-API-Version": "beta"}).status_code == 200  # header names: any case
    assert get(served, PROD, **{"x-api-version": "Beta"}).status_code == 403  # glob values: case-sensitive


def test_a_request_no_rule_matches_is_forbidden(served):
    assert get(served, CLOSED, **{"x-api-version": "beta"}).status_code == 200
    resp = get(served, CLOSED)
    assert (resp.status_code, resp.json()) == (403, {"message": "Forbidden"})


def test_a_mapping_domain_routes_by_base_path_and_strips_it(served):
    resp = get(served, LEGACY, "/v1/orders/a")
    assert resp.status_code == 200 and resp.json()["path"] == "/a"
    assert get(served, LEGACY, "/v2/orders").status_code == 403


def test_with_the_default_endpoint_disabled_only_the_domains_serve(served):
    gw, api = served.clients.apigateway, served.settings.rest_api_id

    def default_endpoint(disabled: bool) -> None:
        gw.update_rest_api(restApiId=api, patchOperations=[
            {"op": "replace", "path": "/disableExecuteApiEndpoint", "value": str(disabled)}])
        served.plane.sync()

    default_endpoint(True)
    try:
        resp = served.http.get(served.url("/orders"))
        assert (resp.status_code, resp.json()) == (403, {"message": "Forbidden"})
        assert get(served, DEV).status_code == 200
    finally:
        default_endpoint(False)
    assert served.http.get(served.url("/orders")).status_code == 200


def test_the_doctor_probes_the_stage_on_its_domain(served):
    from portico.ops.doctor import Doctor

    settings = served.settings.with_(domains=(("dev", DEV),))
    checks = {c.link: c for c in Doctor(served.clients, settings).run("orders", probe=True,
                                                                     probe_base=served.plane.url)}
    assert checks[f"custom domain {DEV}"].ok, checks[f"custom domain {DEV}"]
    probe = checks["HTTP probe"]
    assert probe.ok and probe.detail == f"GET {served.plane.url}/orders (Host: {DEV}) → 200", probe


# ------------------------------------------------------------------ the matching itself (pure)


@pytest.mark.parametrize(("glob", "value", "matches"), [
    ("beta", "beta", True), ("beta", "beta2", False), ("a*", "alpha", True), ("a*", "beta", False),
    ("*ta", "beta", True), ("*et*", "beta", True), ("*et*", "bta", False), ("*", "", True), ("b?ta", "beta", False)])
def test_header_globs(glob, value, matches):
    assert glob_matches(glob, value) is matches


def test_rules_in_priority_order_base_paths_whole_segments_and_strip():
    rules = [Rule(5, (), ("users",), "api", "v1", True), Rule(9, (), None, "api", "prod", False)]
    domain = Domain("api.example.com", "ROUTING_RULE_ONLY", rules)
    assert resolve(domain, Headers({}), "/users/42") == ("api", "v1", "/42")
    assert resolve(domain, Headers({}), "/usersx/42") == ("api", "prod", "/usersx/42")
    both = Domain("b", "ROUTING_RULE_THEN_BASE_PATH_MAPPING",
                  [Rule(1, ((("x-v", "2"),),), None, "api", "dev", False)], {"(none)": ("api", "prod")})
    assert resolve(both, Headers({"x-v": "2"}), "/a") == ("api", "dev", "/a")
    assert resolve(both, Headers({}), "/a") == ("api", "prod", "/a")
