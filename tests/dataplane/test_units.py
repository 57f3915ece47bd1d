"""The data plane's pure rules: route precedence, token buckets, health-state transitions, task commands."""

from __future__ import annotations

import sys

import pytest

from portico_cli.local_aws.dataplane.controlplane import Method
from portico_cli.local_aws.dataplane.gateway import Bucket, match, setting_key
from portico_cli.local_aws.dataplane.nlb import TargetGroup, TargetState, _matches
from portico_cli.local_aws.dataplane.tasks import command_for

ROUTES = {p: {"ANY": Method("ANY", "NONE", False, None, [], {})} for p in
          ("/", "/orders", "/orders/{proxy+}", "/orders/items", "/orders/{id}", "/shop/catalog")}


@pytest.mark.parametrize(("path", "resource", "params"), [
    ("/", "/", {}),
    ("/orders", "/orders", {}),
    ("/orders/", "/orders", {}),
    ("/orders/items", "/orders/items", {}),  # a literal segment beats {id} and {proxy+}
    ("/orders/42", "/orders/{id}", {"id": "42"}),  # {id} beats {proxy+}
    ("/orders/42/lines/1", "/orders/{proxy+}", {"proxy": "42/lines/1"}),
    ("/shop/catalog", "/shop/catalog", {}),
])
def test_the_most_specific_resource_wins(path, resource, params):
    assert match(ROUTES, path) == (resource, params)


@pytest.mark.parametrize("path", ["/shop", "/shop/catalog/x", "/users"])
def test_no_resource_matches(path):
    assert match(ROUTES, path) is None


def test_setting_keys_escape_slashes():
    assert setting_key("/orders/{proxy+}", "GET") == "~1orders~1{proxy+}/GET"
    assert setting_key("/", "ANY") == "~1/ANY"


def test_a_bucket_allows_the_burst_then_the_rate():
    b = Bucket(rate=0.0, burst=2)
    assert [b.take() for _ in range(3)] == [True, True, False]
    assert Bucket(rate=5.0, burst=0).take() is False


def test_health_states_follow_the_thresholds():
    s = TargetState()
    assert (s.record(True, None, 2, 2), s.state) == (False, "initial")
    assert (s.record(True, None, 2, 2), s.state) == (True, "healthy")
    assert (s.record(False, None, 2, 2), s.state) == (False, "healthy")
    assert (s.record(False, ("Target.Timeout", "Request timed out"), 2, 2), s.state) == (True, "unhealthy")
    assert s.reason == ("Target.Timeout", "Request timed out")


def test_the_nlb_routes_to_healthy_targets_and_fails_open_when_all_are_unhealthy():
    g = TargetGroup("tg", {})
    g.targets = {("10.0.0.4", 80): TargetState("healthy"), ("10.0.0.5", 80): TargetState("unhealthy")}
    assert g.routable() == [("10.0.0.4", 80)]
    g.targets[("10.0.0.4", 80)].state = "unhealthy"
    assert sorted(g.routable()) == [("10.0.0.4", 80), ("10.0.0.5", 80)]
    g.targets = {("10.0.0.6", 80): TargetState()}  # still initial: nothing to route to
    assert g.routable() == [] and g.pick() is None


@pytest.mark.parametrize(("code", "matcher", "ok"), [(200, "200", True), (204, "200,204", True),
                                                     (302, "200-399", True), (404, "200-399", False)])
def test_matcher_codes(code, matcher, ok):
    assert _matches(code, matcher) is ok


def test_a_local_image_runs_its_command_on_the_tasks_port():
    container = {"name": "web", "image": "local", "command": ["serve", "--port", "${PORT}"],
                 "environment": [{"name": "MODE", "value": "demo"}]}
    argv, env = command_for(container, "files", 41000, "t1")
    assert argv == ["serve", "--port", "41000"] and env["PORT"] == "41000" and env["MODE"] == "demo"
    argv, _ = command_for({"name": "app", "image": "public.ecr.aws/x/orders:1"}, "orders", 41001, "t2")
    assert argv[:3] == [sys.executable, "-m", "portico_cli.local_aws.dataplane.standin"]
    with pytest.raises(ValueError, match="image 'local' needs an entryPoint or command"):
        command_for({"name": "web", "image": "local"}, "files", 1, "t3")


def test_the_emulator_percentile_is_the_nearest_rank():
    from portico_cli.local_aws.emulator.cloudwatch import percentile

    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (50.0, 99.0, 100.0)
    assert percentile([7.0], 99) == 7.0
