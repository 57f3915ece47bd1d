"""API Gateway resources, methods and integrations, on the moto server: what each `auth` value puts on the
methods, and changing `auth` updates them in place (same resources, no re-creation, one deployment); on a VPC link
v2 each integration names its load balancer (integrationTarget), and a drifted one is put back; in ALB mode the
service header of each integration follows the service's path."""

from __future__ import annotations

import pytest

from portico.reconcile import ALL
from portico.registry import Registry
from portico_cli.local_aws import account as local
from tests.conftest import spec_item
from tests.kinds.conftest import integrations, local_stack

EXPECTED = {  # auth -> (authorizationType, apiKeyRequired, uses the Cognito authorizer)
    "API_KEY": ("NONE", True, False),
    "IAM": ("AWS_IAM", False, False),
    "COGNITO": ("COGNITO_USER_POOLS", False, True),
    "NONE": ("NONE", False, False),
}


def cognito_authorizer(clients, stack) -> str:
    import boto3

    idp = boto3.client("cognito-idp", endpoint_url=stack.endpoint_url, region_name="us-east-1")
    pool = idp.create_user_pool(PoolName="portico-users")["UserPool"]["Arn"]
    return clients.apigateway.create_authorizer(
        restApiId=stack.rest_api_id, name="portico-cognito", type="COGNITO_USER_POOLS", providerARNs=[pool],
        identitySource="method.request.header.Authorization")["id"]


def methods(clients, stack, path):
    items = clients.apigateway.get_resources(restApiId=stack.rest_api_id, embed=["methods"], limit=500)["items"]
    res = {r["path"]: r for r in items}
    out = {}
    for p in (path, f"{path}/{{proxy+}}"):
        for verb in res[p]["resourceMethods"]:
            out[(p, verb)] = clients.apigateway.get_method(restApiId=stack.rest_api_id, resourceId=res[p]["id"],
                                                           httpMethod=verb)
    return out, {p: r["id"] for p, r in res.items()}


@pytest.mark.parametrize("auth", list(EXPECTED))
def test_auth_type_on_every_method(clients, stack, reconciler, auth):
    authorizer = cognito_authorizer(clients, stack) if auth == "COGNITO" else None
    Registry(clients.dynamodb, stack.registry_table).put_spec(spec_item("orders", auth=auth, methods=["GET", "POST"]))
    assert reconciler.run(ALL).statuses["orders"].status == "READY"
    got, _ = methods(clients, stack, "/orders")
    assert sorted(got) == [("/orders", "GET"), ("/orders", "POST"), ("/orders/{proxy+}", "GET"),
                           ("/orders/{proxy+}", "POST")]
    kind, key_required, cognito = EXPECTED[auth]
    for m in got.values():
        assert m["authorizationType"] == kind
        assert bool(m.get("apiKeyRequired")) is key_required
        assert m.get("authorizerId") == (authorizer if cognito else None)


def test_cognito_without_an_authorizer_is_a_clear_failure(clients, stack, reconciler):
    Registry(clients.dynamodb, stack.registry_table).put_spec(spec_item("orders", auth="COGNITO"))
    st = reconciler.run(ALL).statuses["orders"]
    assert st.status == "FAILED"
    assert st.message.startswith("auth: COGNITO needs the stack's Cognito authorizer")


def test_none_is_refused_when_the_stack_does_not_allow_it(clients, stack):
    from portico.reconcile import Reconciler

    rec = Reconciler(clients, stack.with_(allow_unauthenticated=False), sleep=lambda s: None)
    Registry(clients.dynamodb, stack.registry_table).put_spec(spec_item("orders", auth="NONE"))
    st = rec.run(ALL).statuses["orders"]
    assert st.status == "FAILED" and "auth: NONE is not allowed by this portico stack" in st.message


@pytest.mark.parametrize(("before", "after"), [("API_KEY", "IAM"), ("IAM", "COGNITO"), ("COGNITO", "NONE"),
                                               ("NONE", "API_KEY")])
def test_changing_auth_updates_methods_in_place(clients, stack, reconciler, meter, before, after):
    authorizer = cognito_authorizer(clients, stack)
    reg = Registry(clients.dynamodb, stack.registry_table)
    reg.put_spec(spec_item("orders", auth=before))
    reconciler.run(ALL)
    _, ids_before = methods(clients, stack, "/orders")

    reg.put_spec(spec_item("orders", auth=after))
    plan = reconciler.run(ALL, dry_run=True).plan
    assert [s.action for s in plan.steps] == ["update_method", "update_method", "deploy"]
    meter.reset()
    assert reconciler.run(ALL).statuses["orders"].status == "READY"
    writes = {op: n for (_, op), n in meter.writes().items()}
    assert not {"CreateResource", "DeleteResource", "PutMethod", "DeleteMethod", "PutIntegration"} & set(writes)
    assert writes["UpdateMethod"] == 2 and writes["CreateDeployment"] == 1

    got, ids_after = methods(clients, stack, "/orders")
    assert ids_after["/orders"] == ids_before["/orders"]
    assert ids_after["/orders/{proxy+}"] == ids_before["/orders/{proxy+}"]
    kind, key_required, cognito = EXPECTED[after]
    for m in got.values():
        assert m["authorizationType"] == kind and bool(m.get("apiKeyRequired")) is key_required
        assert (m.get("authorizerId") or None) == (authorizer if cognito else None)
        assert m["methodIntegration"]["connectionType"] == "VPC_LINK"  # the integration survived


@pytest.fixture
def pool(aws):
    # One port per NLB: the allocator must spread three services over three NLBs of the pool.
    return local_stack(aws, load_balancers=6, port_range=(10000, 10000), vpc_links="v2")


def test_one_v2_link_serves_a_pool_of_six(pool):
    s, clients, reg, reconciler = pool
    assert not s.vpc_link_ids and s.vpc_link_v2_id and len(s.load_balancer_arns) == 6
    for name in ("orders", "users", "catalog"):
        reg.put_spec(spec_item(name))
    outcome = reconciler.run(ALL)
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
    s, clients, reg, reconciler = pool
    reg.put_spec(spec_item("orders"))
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


def test_alb_mode_two_services_swapping_paths_converge_in_one_pass(alb):
    s, clients, reg, reconciler = alb
    reg.put_spec(spec_item("orders", path="/a"))
    reg.put_spec(spec_item("users", path="/b"))
    reconciler.run(ALL)
    reg.put_spec(spec_item("orders", path="/b"))
    reg.put_spec(spec_item("users", path="/a"))
    outcome = reconciler.run(["orders", "users"])
    assert {n: st.status for n, st in outcome.statuses.items()} == {"orders": "READY", "users": "READY"}, outcome
    items = clients.apigateway.get_resources(restApiId=s.rest_api_id, embed=["methods"], limit=500)["items"]
    headers = {r["path"]: {v for m in r["resourceMethods"].values()
                           for k, v in (m["methodIntegration"].get("requestParameters") or {}).items()
                           if k.startswith("integration.request.header.")} for r in items if r.get("resourceMethods")}
    assert headers["/a"] and headers["/b"], headers
    assert all("users" in v for v in headers["/a"]) and all("orders" in v for v in headers["/b"]), headers
    assert reconciler.run(ALL).plan.steps == []
