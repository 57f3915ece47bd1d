"""Per-service throttling, caching and detailed metrics as stage method settings, on the moto server."""

from __future__ import annotations

from portico.kinds import stage as ss
from portico.reconcile import ALL
from portico.registry import Registry
from tests.conftest import spec_item


def stage(clients, stack, name=None):
    return clients.apigateway.get_stage(restApiId=stack.rest_api_id, stageName=name or stack.stage)


def put(clients, stack, *items):
    reg = Registry(clients.dynamodb, stack.registry_table)
    for item in items:
        reg.put_spec(item)
    return reg


def test_setting_keys_escape_the_resource_path():
    assert ss.setting_key("/orders", "GET") == "orders/GET"
    assert ss.setting_key("/team/orders/{proxy+}", "ANY") == "team~1orders~1{proxy+}/ANY"
    assert ss.key_path("team~1orders~1{proxy+}/ANY") == "/team/orders/{proxy+}"
    assert ss.key_path("~1/GET") == "/"


def test_throttle_and_cache_become_method_settings_of_that_service_only(clients, stack, reconciler):
    put(clients, stack, spec_item("orders", throttleRate=50, throttleBurst=100, cacheTtlSeconds=120),
        spec_item("users"))
    outcome = reconciler.run(ALL)
    assert {s: st.status for s, st in outcome.statuses.items()} == {"orders": "READY", "users": "READY"}
    got = stage(clients, stack)
    settings = got["methodSettings"]
    for key in ("orders/ANY", "orders~1{proxy+}/ANY"):
        assert settings[key]["throttlingRateLimit"] == 50.0
        assert settings[key]["throttlingBurstLimit"] == 100
        assert settings[key]["cachingEnabled"] is True
        assert settings[key]["cacheTtlInSeconds"] == 120
        assert settings[key]["metricsEnabled"] is True
    for key in ("users/ANY", "users~1{proxy+}/ANY"):  # no throttle asked: the stage default, no caching
        assert settings[key]["throttlingRateLimit"] == ss.ACCOUNT_RATE
        assert settings[key]["cachingEnabled"] is False
        assert settings[key]["metricsEnabled"] is True
    assert got["cacheClusterEnabled"] is True
    # the other stages are promotion targets: untouched
    assert stage(clients, stack, "prod").get("methodSettings") in ({}, None)

    # converged: the next pass plans no stage update at all
    assert [s.action for s in reconciler.run(ALL, dry_run=True).plan.steps] == []


def test_one_update_stage_per_pass_with_every_operation(clients, stack, reconciler, meter):
    put(clients, stack, spec_item("orders", throttleRate=5), spec_item("users", cacheTtlSeconds=60),
        spec_item("catalog", throttleBurst=7))
    plan = reconciler.run(ALL, dry_run=True).plan
    updates = [s for s in plan.steps if s.action == "update_stage"]
    assert len(updates) == 1 and updates[0].service == "*"
    ops = updates[0].params["patch"]
    assert {"op": "replace", "path": "/cacheClusterEnabled", "value": "true"} in ops
    assert {"op": "replace", "path": "/orders/ANY/throttling/rateLimit", "value": "5.0"} in ops
    assert {"op": "replace", "path": "/catalog~1{proxy+}/ANY/throttling/burstLimit", "value": "7"} in ops
    assert [s.action for s in plan.steps].index("update_stage") > [s.action for s in plan.steps].index("deploy")
    reconciler.run(ALL)
    assert stage(clients, stack)["methodSettings"]["catalog~1{proxy+}/ANY"]["throttlingBurstLimit"] == 7


def test_changing_and_dropping_settings_updates_in_place(clients, stack, reconciler):
    reg = put(clients, stack, spec_item("orders", throttleRate=50, cacheTtlSeconds=30))
    reconciler.run(ALL)
    reg.put_spec(spec_item("orders", throttleRate=20))
    plan = reconciler.run(["orders"], dry_run=True).plan
    assert [s.action for s in plan.steps] == ["update_stage"]  # no API change, no deployment
    ops = plan.steps[0].params["patch"]
    assert {"op": "replace", "path": "/cacheClusterEnabled", "value": "false"} in ops
    assert {"op": "replace", "path": "/orders/ANY/caching/enabled", "value": "false"} in ops
    reconciler.run(["orders"])
    got = stage(clients, stack)
    assert got["cacheClusterEnabled"] is False
    assert got["methodSettings"]["orders/ANY"]["throttlingRateLimit"] == 20.0
    assert got["methodSettings"]["orders/ANY"]["cachingEnabled"] is False
    assert reconciler.run(ALL, dry_run=True).plan.steps == []


def test_stage_default_throttle_comes_from_the_stage_wide_override(clients, stack, reconciler):
    clients.apigateway.update_stage(restApiId=stack.rest_api_id, stageName=stack.stage, patchOperations=[
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "300"},
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "600"}])
    put(clients, stack, spec_item("users"))
    reconciler.run(ALL)
    got = stage(clients, stack)["methodSettings"]
    assert got["users/ANY"]["throttlingRateLimit"] == 300.0 and got["users/ANY"]["throttlingBurstLimit"] == 600


def test_offboarding_removes_the_service_settings_and_the_cache(clients, stack, reconciler):
    reg = put(clients, stack, spec_item("orders", cacheTtlSeconds=60), spec_item("users", throttleRate=9))
    reconciler.run(ALL)
    reg.delete("orders")
    plan = reconciler.run(ALL, dry_run=True).plan
    ops = next(s for s in plan.steps if s.action == "update_stage").params["patch"]
    assert {"op": "remove", "path": "/orders/ANY"} in ops
    assert {"op": "remove", "path": "/orders~1{proxy+}/ANY"} in ops
    assert {"op": "replace", "path": "/cacheClusterEnabled", "value": "false"} in ops
    assert not any(op["path"].startswith("/users/") and op["op"] == "remove" for op in ops)
    reconciler.run(ALL)
    got = stage(clients, stack)
    assert not any(k.startswith("orders") for k in got["methodSettings"])
    assert got["methodSettings"]["users/ANY"]["throttlingRateLimit"] == 9.0
    assert got["cacheClusterEnabled"] is False
    assert reconciler.run(ALL, dry_run=True).plan.steps == []


def test_a_scoped_deploying_pass_keeps_the_other_services_settings(clients, stack, reconciler):
    reg = put(clients, stack, spec_item("orders", throttleRate=11, cacheTtlSeconds=10))
    reconciler.run(ALL)
    reg.put_spec(spec_item("users"))
    reconciler.run(["users"])  # deploys; orders is out of scope
    got = stage(clients, stack)
    assert got["methodSettings"]["orders/ANY"]["throttlingRateLimit"] == 11.0
    assert got["methodSettings"]["orders/ANY"]["cachingEnabled"] is True
    assert got["cacheClusterEnabled"] is True
    assert reconciler.run(ALL, dry_run=True).plan.steps == []


def test_a_service_that_fails_in_the_pass_is_left_out_of_the_update_stage(clients, stack, reconciler):
    from botocore.exceptions import ClientError

    def refuse_users(params, **_):  # the second service's integration is refused: a terminal error
        if "/users" in str(params.get("resourceId")) or ":10001/" in str(params.get("uri", "")):
            raise ClientError({"Error": {"Code": "BadRequestException", "Message": "refused"}}, "PutIntegration")

    clients.apigateway.meta.events.register("before-parameter-build.api-gateway.PutIntegration", refuse_users)
    put(clients, stack, spec_item("orders", throttleRate=3), spec_item("users", throttleRate=4))
    outcome = reconciler.run(ALL)
    assert outcome.statuses["users"].status == "FAILED" and outcome.statuses["orders"].status == "READY"
    assert outcome.errors == []  # the UpdateStage went through, without the failed service's operations
    got = stage(clients, stack)["methodSettings"]
    assert got["orders/ANY"]["throttlingRateLimit"] == 3.0
    assert not any(k.startswith("users") for k in got)
