"""The product steps are planned purely: hand-built observed state in, steps out, no network; golden plans
with product steps (alarms, stage settings, dashboard) in tests/golden/product-*.json.

Regenerate after an intended change with PORTICO_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from portico.desired import target_group_name
from portico.kinds.alarms import group_requests, latency_request
from portico.kinds.dashboard import dashboard_body
from portico.kinds.stage import ANY_VERBS, service_settings
from portico.observed import (
    EcsService,
    Listener,
    LoadBalancer,
    Method,
    Observed,
    ProductObserved,
    Resource,
    StageState,
    TargetGroup,
)
from portico.plan import make_plan
from portico.settings import Settings
from portico.spec import parse
from portico.state import Ledger, StateSnapshot
from portico.steps import Route

LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/portico-nlb-1/abc"
DNS = "portico-nlb-1.elb.us-east-1.amazonaws.com"
S = Settings(rest_api_id="api123", load_balancer_arns=(LB,), vpc_link_ids=("vl1",), vpc_id="vpc-1",
             allow_unauthenticated=True, alarm_topic_arn="arn:aws:sns:us-east-1:123456789012:t")
TG = target_group_name("portico", "orders", 8080, "ip")
GOLDEN = Path(__file__).resolve().parents[1] / "golden"
TG_ARN = f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{TG}/0123"



def spec(**kw):
    return parse({"service": "orders", "cluster": "demo", "containerPort": 8080, "path": "/orders", "auth": "NONE",
                  **kw}, allow_unauthenticated=True)


def method(proxy: bool, cached: bool = False) -> Method:
    uri = f"http://{DNS}:10000/" + ("{proxy}" if proxy else "")
    params = {"integration.request.path.proxy": "method.request.path.proxy"} if proxy else {}
    keys = ["method.request.path.proxy"] if proxy and cached else []  # a cached proxy route keys on its path
    return Method("ANY", "NONE", False, None, {"type": "HTTP_PROXY", "uri": uri, "connectionType": "VPC_LINK",
                                               "httpMethod": "ANY", "requestParameters": params,
                                               "cacheKeyParameters": keys})


def converged(settings_for=None, cache=False) -> Observed:
    """orders routed and converged, its alarms, dashboard and stage settings as portico leaves them."""
    route = Route("orders", "/orders", ("ANY",), TG, LB)
    alarms = {r["AlarmName"]: r for r in [*group_requests([route], S, "portico"), latency_request(
        route, stack="portico", api_name="portico", stage="dev", topic=S.alarm_topic_arn)]}
    settings = service_settings(["/orders", "/orders/{proxy+}"], ("ANY",), *(settings_for or (None, None, None)),
                                (10000.0, 5000))
    names_of = {"metrics/enabled": "metricsEnabled", "throttling/rateLimit": "throttlingRateLimit",
                "throttling/burstLimit": "throttlingBurstLimit", "caching/enabled": "cachingEnabled",
                "caching/ttlInSeconds": "cacheTtlInSeconds"}
    method_settings = {k: {names_of[f]: v for f, v in fields.items()} for k, fields in settings.items()}
    product = ProductObserved(api_name="portico", stage=StageState("dev", "d1", method_settings, cache),
                              alarms=alarms, dashboard=dashboard_body([LB], api_name="portico", stage="dev",
                                                                      region="us-east-1"))
    state = StateSnapshot()
    state.ledgers["orders"] = Ledger("orders", LB, 10000, "/orders", {TG: TG_ARN}, "arn:listener/1",
                                     {"/orders": "r1", "/orders/{proxy+}": "r2"}, "demo/orders")
    state.ports[(LB, 10000)] = "orders"
    state.paths["/orders"] = "orders"
    lb = LoadBalancer(LB, DNS, "vl1", {10000: Listener("arn:listener/1", 10000, "TCP", (TG_ARN,))})
    return Observed(
        state=state, load_balancers={LB: lb},
        target_groups={TG: TargetGroup(TG_ARN, TG, 8080, "TCP", "ip", "TCP", None)},
        resources={"/": Resource("root", "/", None),
                   "/orders": Resource("r1", "/orders", "root", {"ANY": method(False)}),
                   "/orders/{proxy+}": Resource("r2", "/orders/{proxy+}", "r1", {"ANY": method(True, cache)})},
        ecs={"demo/orders": EcsService("demo/orders", "arn:ecs:orders", "ACTIVE", "ECS", "arn:td/orders:1",
                                       [{"targetGroupArn": TG_ARN, "containerName": "app", "containerPort": 8080}],
                                       {"app": {8080}})},
        product=product)


def plan(specs, observed, scope=None):
    return make_plan(specs, observed, S, "us-east-1", scope, set(specs))


def test_converged_product_state_plans_nothing():
    assert plan({"orders": spec()}, converged()).steps == []
    assert plan({"orders": spec(throttleRate=5, cacheTtlSeconds=30)}, converged((5, None, 30), cache=True)).steps == []


def test_a_cached_proxy_route_keys_its_cache_on_the_path():
    steps = plan({"orders": spec(cacheTtlSeconds=30)}, converged()).steps
    keyed = [s for s in steps if s.action == "put_integration"]
    assert [(s.params["path"], s.params["cacheKeyParameters"]) for s in keyed] == [
        ("/orders/{proxy+}", ["method.request.path.proxy"])]


def test_a_throttle_change_is_one_update_stage_and_nothing_else():
    steps = plan({"orders": spec(throttleRate=5)}, converged()).steps
    assert [(s.action, s.service) for s in steps] == [("update_stage", "*")]
    keys = sorted(f"{path}/{verb}" for path in ("~1orders", "~1orders~1{proxy+}") for verb in ANY_VERBS)
    assert steps[0].params["patch"] == [
        {"op": "replace", "path": f"/{key}/throttling/rateLimit", "value": "5.0"} for key in keys]
    assert steps[0].params["owners"] == dict.fromkeys(keys, "orders")


def test_offboarding_plans_alarm_deletion_settings_removal_and_the_dashboard_row():
    steps = plan({}, converged((5, None, 30), cache=True)).steps
    actions = [s.action for s in steps]
    assert actions.index("delete_alarms") < actions.index("release") < actions.index("deploy") < \
        actions.index("update_stage") < actions.index("put_dashboard")
    by = {(s.action, s.service): s for s in steps}
    assert by["delete_alarms", "orders"].params["names"] == ["portico-svc-orders-p99-latency"]
    # the API's and the load balancer's alarms go with the last route
    assert by["delete_alarms", "*"].params["names"] == ["portico-svc-_5xx-rate", "portico-svc-_unhealthy-portico-nlb-1"]
    by = {s.action: s for s in steps}
    assert by["update_stage"].params["patch"] == [
        {"op": "replace", "path": "/cacheClusterEnabled", "value": "false"},
        *({"op": "remove", "path": f"/{path}/{verb}"} for path in ("~1orders", "~1orders~1{proxy+}")
          for verb in sorted(ANY_VERBS))]
    assert by["put_dashboard"].params["loadBalancers"] == []  # the load balancer's graphs go with its last route


def test_an_out_of_scope_service_keeps_its_settings_cache_and_row():
    steps = plan({}, converged((None, None, 30), cache=True), scope={"users"}).steps
    assert steps == []


def test_an_edited_alarm_is_rewritten_and_a_new_target_group_waits_for_its_arn():
    obs = converged()
    obs.product.alarms["portico-svc-_unhealthy-portico-nlb-1"]["AlarmDescription"] = "edited by hand"
    steps = plan({"orders": spec()}, obs).steps
    assert [(s.action, s.params) for s in steps] == [("put_alarms", {"api": False, "loadBalancers": [LB]})]
    obs = converged()
    obs.product = ProductObserved(api_name="portico", stage=obs.product.stage, alarms={}, dashboard=None)
    steps = plan({"orders": spec()}, obs).steps
    assert [s.action for s in steps] == ["put_alarms", "put_dashboard"]
    assert steps[0].params == {"api": True, "loadBalancers": [LB]}  # the p99 alarm is the sweeper's


def test_no_product_state_means_no_product_steps():
    obs = converged()
    obs.product = None
    assert plan({"orders": spec(throttleRate=1)}, obs).steps == []


def fresh() -> Observed:
    """Nothing routed yet: the stage without overrides, no alarms, no dashboard."""
    obs = converged()
    obs.state = StateSnapshot()
    obs.load_balancers[LB].listeners.clear()
    obs.target_groups.clear()
    obs.resources = {"/": obs.resources["/"]}
    obs.ecs["demo/orders"].load_balancers.clear()
    obs.product = ProductObserved(api_name="portico", stage=StageState("dev", "d0", {}, False))
    return obs


GOLDEN_CASES = {
    "product-onboard": (fresh, {"orders": spec(throttleRate=20, throttleBurst=40, cacheTtlSeconds=60)}, None),
    "product-throttle-change": (converged, {"orders": spec(throttleRate=5)}, None),
    "product-offboard": (lambda: converged((5, None, 30), cache=True), {}, None),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_plan_with_product_steps(name):
    observed, specs, scope = GOLDEN_CASES[name]
    got = plan(specs, observed(), scope).to_json()
    path = GOLDEN / f"{name}.json"
    if os.environ.get("PORTICO_UPDATE_GOLDEN"):
        path.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(path.read_text())
    assert {"put_alarms", "delete_alarms", "update_stage", "put_dashboard"} & {s["action"] for s in got["steps"]}
