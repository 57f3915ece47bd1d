"""The service sees the same request line in every mode (VPC link v1 to NLBs, v2 to NLBs, v2 to the ALB):
`{path}` arrives as `/` and `{path}/{proxy+}` as `/{proxy}`, no stage, no prefix. The local gateway does
what AWS documents for a VPC link v2 (the stage goes in front of the path unless a parameter mapping sets the
path), so the v2 modes pass only because every v2 integration maps its path (docs/modes.md)."""

from __future__ import annotations

import time

import pytest

from .conftest import Stack, spec_item, start_plane

MODES = {"v1": {}, "v2-nlb": {"vpc_links": "v2"}, "v2-alb": {"vpc_links": "v2", "backend": "alb"}}


@pytest.fixture(scope="module", params=sorted(MODES))
def mode(request, moto_endpoint):
    stack = Stack(moto_endpoint, **MODES[request.param])
    stack.onboard(spec_item("orders", path="/team/orders", auth="NONE"))
    start_plane(stack)
    yield request.param, stack
    stack.plane.stop()
    stack.http.close()


def line(stack: Stack, path: str) -> str:
    resp = stack.wait_for(path)
    assert resp.status_code == 200, resp.text
    return resp.json()["requestLine"]


def test_the_service_sees_its_path_without_stage_or_prefix(mode):
    _, stack = mode
    assert line(stack, "/team/orders") == "GET / HTTP/1.1"
    assert line(stack, "/team/orders/items/7?x=1&y=2") == "GET /items/7?x=1&y=2 HTTP/1.1"


def test_every_v2_integration_sets_its_path_with_a_mapping(mode):
    name, stack = mode
    apigw = stack.clients.apigateway
    items = apigw.get_resources(restApiId=stack.settings.rest_api_id, embed=["methods"], limit=500)["items"]
    got = {r["path"]: r["resourceMethods"]["ANY"]["methodIntegration"] for r in items
           if r["path"].startswith("/team/orders")}
    leaf, proxy = got["/team/orders"], got["/team/orders/{proxy+}"]
    assert proxy["uri"].endswith("/{proxy}")
    assert proxy["requestParameters"]["integration.request.path.proxy"] == "method.request.path.proxy"
    if name == "v1":
        assert leaf["uri"].endswith(":10000/") and "integration.request.path.proxy" not in \
            (leaf.get("requestParameters") or {})
    else:
        assert leaf["uri"].endswith("/{proxy}") and leaf["integrationTarget"]
        assert leaf["requestParameters"]["integration.request.path.proxy"] == "''"


def test_a_v2_integration_without_a_path_mapping_sends_the_stage(mode):
    """What AWS documents for private integrations, and what portico's mappings avoid: the local gateway puts
    the stage in front of the path of a v2 integration whose path no mapping sets (v1: it does not)."""
    name, stack = mode
    apigw, api = stack.clients.apigateway, stack.settings.rest_api_id
    items = apigw.get_resources(restApiId=api, embed=["methods"], limit=500)["items"]
    leaf = next(r for r in items if r["path"] == "/team/orders")
    integration = leaf["resourceMethods"]["ANY"]["methodIntegration"]
    bare = integration["uri"].replace("/{proxy}", "/")
    extra = {k: integration[k] for k in ("integrationTarget",) if k in integration}
    headers = {k: v for k, v in (integration.get("requestParameters") or {}).items() if ".header." in k}
    raw = apigw.create_resource(restApiId=api, parentId=leaf["id"], pathPart="raw")["id"]
    apigw.put_method(restApiId=api, resourceId=raw, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=api, resourceId=raw, httpMethod="GET", type="HTTP_PROXY",
                          integrationHttpMethod="GET", uri=bare, connectionType="VPC_LINK",
                          connectionId=integration["connectionId"], requestParameters=headers, **extra)
    apigw.create_deployment(restApiId=api, stageName="qa")
    answer = _poll(stack, "/team/orders/raw", "qa")  # the plane re-reads the stages every second
    assert answer.status_code == 200, answer.text
    assert answer.json()["requestLine"] == ("GET / HTTP/1.1" if name == "v1" else "GET /qa/ HTTP/1.1")


def _poll(stack: Stack, path: str, stage: str, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while True:
        resp = stack.http.get(stack.url(path, stage))
        if resp.status_code == 200 or time.monotonic() > deadline:
            return resp
        time.sleep(0.25)
