"""Auth per service on the moto server: what each `auth` value puts on the methods, and that changing
`auth` updates the methods in place (same resources, no re-creation, one deployment)."""

from __future__ import annotations

import pytest

from portico.reconcile import ALL
from portico.registry import Registry
from tests.conftest import spec_item

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
