"""A stack on a VPC link v2 against the moto server: one link for a pool of six NLBs, each integration
naming its NLB with integrationTarget; drift of the target is repaired; offboarding leaves the link."""

from __future__ import annotations

import pytest

from portico.clients import Clients
from portico.reconcile import ALL, Reconciler
from portico.registry import Registry
from portico_cli.local_aws import bootstrap as local
from tests.conftest import spec_item


@pytest.fixture
def pool(aws):
    # One port per NLB: the allocator must spread three services over three NLBs of the pool.
    s = local.bootstrap(aws, load_balancers=6, port_range=(10000, 10000), vpc_links="v2")
    return s, Clients.create(s, boto3_session=local.session(s.endpoint_url))


def integrations(clients, s, path):
    items = clients.apigateway.get_resources(restApiId=s.rest_api_id, embed=["methods"], limit=500)["items"]
    [res] = [r for r in items if r["path"] == path]
    return [m["methodIntegration"] for m in res["resourceMethods"].values()]


def test_one_v2_link_serves_a_pool_of_six(pool):
    s, clients = pool
    assert not s.vpc_link_ids and s.vpc_link_v2_id and len(s.load_balancer_arns) == 6
    reg = Registry(clients.dynamodb, s.registry_table)
    for name in ("orders", "users", "catalog"):
        reg.put_spec(spec_item(name))
    outcome = Reconciler(clients, s, sleep=lambda _: None).run(ALL)
    assert {st.status for st in outcome.statuses.values()} == {"READY"}
    seen = {}
    for name in ("orders", "users", "catalog"):
        for path in (f"/{name}", f"/{name}/{{proxy+}}"):
            for integ in integrations(clients, s, path):
                assert integ["connectionType"] == "VPC_LINK" and integ["connectionId"] == s.vpc_link_v2_id
                seen.setdefault(name, set()).add(integ["integrationTarget"])
    assert sorted(next(iter(t)) for t in seen.values()) == sorted(s.load_balancer_arns[:3])
    assert all(len(t) == 1 for t in seen.values())


def test_a_drifted_integration_target_is_put_back(pool):
    s, clients = pool
    reg = Registry(clients.dynamodb, s.registry_table)
    reg.put_spec(spec_item("orders"))
    reconciler = Reconciler(clients, s, sleep=lambda _: None)
    reconciler.run(ALL)
    items = clients.apigateway.get_resources(restApiId=s.rest_api_id, embed=["methods"], limit=500)["items"]
    [res] = [r for r in items if r["path"] == "/orders"]
    integ = res["resourceMethods"]["ANY"]["methodIntegration"]
    clients.apigateway.put_integration(restApiId=s.rest_api_id, resourceId=res["id"], httpMethod="ANY",
                                       type="HTTP_PROXY", integrationHttpMethod="ANY", uri=integ["uri"],
                                       connectionType="VPC_LINK", connectionId=s.vpc_link_v2_id,
                                       integrationTarget=s.load_balancer_arns[5])
    reconciler.run(ALL)
    assert [i["integrationTarget"] for i in integrations(clients, s, "/orders")] == [s.load_balancer_arns[0]]
    reg.delete("orders")
    reconciler.run(ALL)
    paths = {r["path"] for r in clients.apigateway.get_resources(restApiId=s.rest_api_id, limit=500)["items"]}
    assert "/orders" not in paths
    link = local.session(s.endpoint_url).client("apigatewayv2", endpoint_url=s.endpoint_url).get_vpc_link(
        VpcLinkId=s.vpc_link_v2_id)
    assert link["VpcLinkId"] == s.vpc_link_v2_id
