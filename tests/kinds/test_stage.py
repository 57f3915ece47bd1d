"""Per-service throttling, caching and detailed metrics as stage method settings, on the moto server."""

from __future__ import annotations

import pytest

from portico.clients import Clients
from portico.kinds import stage as ss
from portico.reconcile import ALL, Reconciler
from portico.registry import Registry
from portico_cli.local_aws import account as local
from portico_cli.local_aws.demo import create_demo_services
from portico_cli.local_aws.emulator.apigateway import PATCH_OPERATIONS, RESOURCES
from tests.conftest import shaped_stack, spec_item


def stage(clients, stack, name=None):
    return clients.apigateway.get_stage(restApiId=stack.rest_api_id, stageName=name or stack.stage)


def put(clients, stack, *items):
    reg = Registry(clients.dynamodb, stack.registry_table)
    for item in items:
        reg.put_spec(item)
    return reg


def test_setting_keys_escape_the_resource_path():
    # AWS's form: every '/' escaped, the leading one too (CloudFormation's /~1resource~1subresource)
    assert ss.setting_key("/orders", "GET") == "~1orders/GET"
    assert ss.setting_key("/team/orders/{proxy+}", "PUT") == "~1team~1orders~1{proxy+}/PUT"
    assert ss.setting_key("/", "GET") == "~1/GET"
    assert ss.key_path("~1team~1orders~1{proxy+}/PUT") == "/team/orders/{proxy+}"
    assert ss.key_path("~1/GET") == "/"
    assert ss.key_path("team~1orders/PUT") == "/team/orders"  # an older portico's key: found, so removed


def test_throttle_and_cache_become_method_settings_of_that_service_only(clients, stack, reconciler):
    put(clients, stack, spec_item("orders", throttleRate=50, throttleBurst=100, cacheTtlSeconds=120),
        spec_item("users"))
    outcome = reconciler.run(ALL)
    assert {s: st.status for s, st in outcome.statuses.items()} == {"orders": "READY", "users": "READY"}
    got = stage(clients, stack)
    settings = got["methodSettings"]
    assert not any(key.endswith("/ANY") for key in settings)  # an ANY method is overridden verb by verb
    assert settings["~1orders/GET"]["cacheTtlInSeconds"] == 120
    for key in (f"{path}/{verb}" for path in ("~1orders", "~1orders~1{proxy+}") for verb in ss.ANY_VERBS):
        assert settings[key]["throttlingRateLimit"] == 50.0
        assert settings[key]["throttlingBurstLimit"] == 100
        assert settings[key]["cachingEnabled"] is key.endswith("/GET")  # the cache serves GET only
        assert settings[key]["metricsEnabled"] is True
    assert not any(key.startswith("~1users") for key in settings)  # nothing asked: the stage's `*/*` serves it
    assert got["cacheClusterEnabled"] is True
    # the other stages are promotion targets: untouched
    assert set(stage(clients, stack, "prod")["methodSettings"]) == {"*/*"}

    # converged: the next pass plans no stage update at all
    assert [s.action for s in reconciler.run(ALL, dry_run=True).plan.steps] == []


def test_under_the_templates_stage_wide_settings_only_what_differs_is_overridden(clients, stack, reconciler,
                                                                                meter):
    """template.yaml sets `*/*` (metrics on, the stage throttle): a service that asks for nothing else needs no
    override, so onboarding it sends no UpdateStage; a throttle adds its keys; dropping it removes them."""
    clients.apigateway.update_stage(restApiId=stack.rest_api_id, stageName=stack.stage, patchOperations=[
        {"op": "replace", "path": "/*/*/metrics/enabled", "value": "true"},
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "100"},
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "200"}])
    put(clients, stack, spec_item("orders"), spec_item("users"))
    meter.reset()
    assert {st.status for st in reconciler.run(ALL).statuses.values()} == {"READY"}
    assert meter.count("apigateway", "UpdateStage") == 0
    assert set(stage(clients, stack)["methodSettings"]) == {"*/*"}
    put(clients, stack, spec_item("users", throttleRate=5, throttleBurst=10))
    reconciler.run(ALL)
    settings = stage(clients, stack)["methodSettings"]
    assert sorted(settings) == sorted(["*/*", *(f"{p}/{v}" for p in ("~1users", "~1users~1{proxy+}")
                                                for v in ss.ANY_VERBS)])
    assert settings["~1users/GET"]["throttlingRateLimit"] == 5.0 and settings["~1users/GET"]["metricsEnabled"] is True
    put(clients, stack, spec_item("users", throttleRate=100, throttleBurst=200))  # what the stage has anyway
    reconciler.run(ALL)
    assert set(stage(clients, stack)["methodSettings"]) == {"*/*"}
    assert [s.action for s in reconciler.run(ALL, dry_run=True).plan.steps] == []


def test_the_pass_operations_go_in_update_stage_steps_of_at_most_80(clients, stack, reconciler, meter):
    put(clients, stack, spec_item("orders", throttleRate=5), spec_item("users", cacheTtlSeconds=60),
        spec_item("catalog", throttleBurst=7))
    plan = reconciler.run(ALL, dry_run=True).plan
    updates = [s for s in plan.steps if s.action == "update_stage"]
    ops = [op for s in updates for op in s.params["patch"]]
    # orders and catalog: 2 paths x 7 verbs x 4 fields each; the cache cluster; users' two cached GETs (5 fields
    # each: its other verbs ask for nothing the stage's `*/*` does not give)
    assert len(ops) == 2 * 56 + 2 + 2 * 5
    sizes = [s.params["operations"] for s in updates]
    assert len(sizes) == 2 and max(sizes) <= 80 and {s.service for s in updates} == {"*"}
    for step in updates:  # a method's operations stay in one call, and each call names the services it sets
        keys = {ss.op_key(op) for op in step.params["patch"]} - {""}
        assert set(step.params["owners"]) == keys
        assert not keys & {ss.op_key(op) for other in updates if other is not step for op in other.params["patch"]}
    assert {"op": "replace", "path": "/cacheClusterEnabled", "value": "true"} in updates[0].params["patch"]
    assert {"op": "replace", "path": "/~1orders/DELETE/throttling/rateLimit", "value": "5.0"} in ops
    assert {"op": "replace", "path": "/~1catalog~1{proxy+}/HEAD/throttling/burstLimit", "value": "7"} in ops
    actions = [s.action for s in plan.steps]
    assert actions.index("update_stage") > actions.index("deploy")
    reconciler.run(ALL)
    assert meter.count("apigateway", "UpdateStage") == 2
    assert stage(clients, stack)["methodSettings"]["~1catalog~1{proxy+}/HEAD"]["throttlingBurstLimit"] == 7


def test_a_refused_update_stage_fails_only_the_service_it_could_not_set(clients, stack, reconciler, monkeypatch):
    monkeypatch.setenv(PATCH_OPERATIONS, "40")  # below one throttled ANY service's 56 operations, above a GET one's 8
    reg = put(clients, stack, spec_item("orders", throttleRate=5), spec_item("users", methods=["GET"], throttleRate=5))
    outcome = reconciler.run(ALL)
    orders = reg.get("orders")
    assert orders["status"] == "FAILED" and orders["statusMessage"].startswith("stage settings failed: ")
    assert "Update size too large" in orders["statusMessage"]
    assert reg.get("users")["status"] == "READY" and outcome.errors  # the pass reports it too
    got = stage(clients, stack)["methodSettings"]
    assert "~1users/GET" in got and not any(k.startswith("~1orders") for k in got)
    monkeypatch.delenv(PATCH_OPERATIONS)
    reconciler.run(ALL)  # the next pass sets what was refused
    assert reg.get("orders")["status"] == "READY" and "~1orders/GET" in stage(clients, stack)["methodSettings"]


def test_changing_and_dropping_settings_updates_in_place(clients, stack, reconciler):
    reg = put(clients, stack, spec_item("orders", throttleRate=50, cacheTtlSeconds=30))
    reconciler.run(ALL)
    reg.put_spec(spec_item("orders", throttleRate=20))
    plan = reconciler.run(["orders"], dry_run=True).plan
    # the stage settings change in place (the cached GET's integration drops its cache keys: apigateway_cache)
    assert [s.action for s in plan.steps if s.action not in ("put_integration", "deploy")] == ["update_stage"]
    ops = next(s for s in plan.steps if s.action == "update_stage").params["patch"]
    assert {"op": "replace", "path": "/cacheClusterEnabled", "value": "false"} in ops
    assert {"op": "replace", "path": "/~1orders/GET/caching/enabled", "value": "false"} in ops
    reconciler.run(["orders"])
    got = stage(clients, stack)
    assert got["cacheClusterEnabled"] is False
    assert got["methodSettings"]["~1orders/PATCH"]["throttlingRateLimit"] == 20.0
    assert got["methodSettings"]["~1orders/GET"]["cachingEnabled"] is False
    assert reconciler.run(ALL, dry_run=True).plan.steps == []


def test_stage_default_throttle_comes_from_the_stage_wide_override(clients, stack, reconciler):
    clients.apigateway.update_stage(restApiId=stack.rest_api_id, stageName=stack.stage, patchOperations=[
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "300"},
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "600"}])
    put(clients, stack, spec_item("users", cacheTtlSeconds=30))  # its cached GETs are set, at the stage throttle
    reconciler.run(ALL)
    got = stage(clients, stack)["methodSettings"]
    assert got["~1users/GET"]["throttlingRateLimit"] == 300.0 and got["~1users/GET"]["throttlingBurstLimit"] == 600


def test_offboarding_removes_the_service_settings_and_the_cache(clients, stack, reconciler):
    reg = put(clients, stack, spec_item("orders", cacheTtlSeconds=60), spec_item("users", throttleRate=9))
    reconciler.run(ALL)
    reg.delete("orders")
    plan = reconciler.run(ALL, dry_run=True).plan
    ops = [op for s in plan.steps if s.action == "update_stage" for op in s.params["patch"]]
    assert {"op": "remove", "path": "/~1orders/GET"} in ops
    assert {"op": "remove", "path": "/~1orders~1{proxy+}/GET"} in ops
    assert {"op": "replace", "path": "/cacheClusterEnabled", "value": "false"} in ops
    assert not any(op["path"].startswith("/~1users") and op["op"] == "remove" for op in ops)
    reconciler.run(ALL)
    got = stage(clients, stack)
    assert not any(k.startswith("orders") for k in got["methodSettings"])
    assert got["methodSettings"]["~1users/PUT"]["throttlingRateLimit"] == 9.0
    assert got["cacheClusterEnabled"] is False
    assert reconciler.run(ALL, dry_run=True).plan.steps == []


def test_a_scoped_deploying_pass_keeps_the_other_services_settings(clients, stack, reconciler):
    reg = put(clients, stack, spec_item("orders", throttleRate=11, cacheTtlSeconds=10))
    reconciler.run(ALL)
    reg.put_spec(spec_item("users"))
    reconciler.run(["users"])  # deploys; orders is out of scope
    got = stage(clients, stack)
    assert got["methodSettings"]["~1orders/GET"]["throttlingRateLimit"] == 11.0
    assert got["methodSettings"]["~1orders/GET"]["cachingEnabled"] is True
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
    assert got["~1orders/GET"]["throttlingRateLimit"] == 3.0
    assert not any(k.startswith("~1users") for k in got)


@pytest.mark.slow
def test_150_services_are_set_in_update_stage_calls_within_aws_bound(aws, monkeypatch):
    """~8,400 method-settings operations (a throttle of its own on ANY = seven verbs, two paths, four settings
    each): every UpdateStage carries at most 80, the emulator refuses a bigger one as AWS does, and every
    service ends READY with its settings."""
    monkeypatch.setenv(RESOURCES, "400")  # raised, as an account past ~148 services does (AWS's default: 300)
    names = [f"svc-{i:03d}" for i in range(150)]
    settings = shaped_stack(aws, load_balancers=3).with_(resources_per_api=400)  # 3 NLBs x 50
    clients = Clients.create(settings, boto3_session=local.session(aws))
    extra = settings.extra
    create_demo_services(clients.ecs, extra["subnets"].split(","), extra["securityGroup"],
                               services=dict.fromkeys(names, 8080))
    sizes: list[int] = []
    clients.apigateway.meta.events.register(
        "before-parameter-build.api-gateway.UpdateStage",
        lambda params, **_: sizes.append(len(params["patchOperations"])))
    reg = put(clients, settings, *(spec_item(s, path=f"/{s}", throttleRate=5) for s in names))
    outcome = Reconciler(clients, settings).run(ALL)
    assert not outcome.errors and {st.status for st in outcome.statuses.values()} == {"READY"}
    assert len(sizes) >= 8400 // ss.MAX_PATCH_OPERATIONS and max(sizes) <= ss.MAX_PATCH_OPERATIONS == 80
    got = stage(clients, settings)["methodSettings"]
    assert all(f"~1{s}~1{{proxy+}}/{verb}" in got for s in names for verb in ss.ANY_VERBS)
    assert reg.get("svc-149")["status"] == "READY"
