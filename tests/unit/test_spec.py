"""The registry contract: every bad input gets a specific message naming the attribute and the rule."""

from decimal import Decimal

import pytest
from boto3.dynamodb.types import TypeSerializer

from portico.spec import HealthCheck, ServiceSpec, SpecError, canonical_path, overlap, parse

BASE = {"service": "orders", "cluster": "demo", "containerPort": Decimal(8080), "path": "/orders"}


def with_(**changes):
    item = {**BASE, **changes}
    return {k: v for k, v in item.items() if v is not None}


def test_defaults():
    spec = parse(BASE, default_auth="IAM")
    assert spec == ServiceSpec(service="orders", cluster="demo", ecs_service="orders", container_port=8080,
                               path="/orders", methods=("ANY",), auth="IAM")


def test_wire_form_and_string_set_methods():
    wire = {k: TypeSerializer().serialize(v) for k, v in with_(methods={"POST", "GET"}).items()}
    assert wire["methods"] == {"SS": ["POST", "GET"]} or "SS" in wire["methods"]
    assert parse(wire).methods == ("GET", "POST")


BAD = [
    (with_(service=None), "service", "is required"),
    (with_(cluster=None), "cluster", "is required"),
    (with_(containerPort=None), "containerPort", "is required"),
    (with_(path=None), "path", "is required"),
    (with_(service=42), "service", "must be a string"),
    (with_(service="Orders"), "service", "must match"),
    (with_(service="o"), "service", "must match"),
    (with_(service="a" * 29), "service", "must match"),
    (with_(service="orders\n"), "service", "must match"),
    (with_(service="1orders"), "service", "must match"),
    (with_(containerPort=Decimal(0)), "containerPort", "from 1 to 65535"),
    (with_(containerPort=Decimal(65536)), "containerPort", "from 1 to 65535"),
    (with_(containerPort="abc"), "containerPort", "must be a number"),
    (with_(containerPort=Decimal("80.5")), "containerPort", "whole number"),
    (with_(containerPort=True), "containerPort", "must be a number"),
    (with_(path="/"), "path", "API root"),
    (with_(path="/a/../b"), "path", "'..'"),
    (with_(path="//a"), "path", "empty segment"),
    (with_(path="/a/"), "path", "must not end with '/'"),
    (with_(path="/{proxy+}"), "path", "braces"),
    (with_(path="/a%2Fb"), "path", "percent-encoding"),
    (with_(path="/Orders"), "path", "lower-case"),
    (with_(path="/оrders"), "path", "lower-case"),  # Cyrillic о
    (with_(path="/a/b/c/d/e/f/g/h/i"), "path", "9 segments"),
    (with_(path="orders"), "path", "must start with '/'"),
    (with_(path="/" + "a" * 65), "path", "[a-z0-9._-]{1,64}"),
    (with_(methods=["GET", "FETCH"]), "methods", "unknown method 'FETCH'"),
    (with_(methods=[]), "methods", "non-empty"),
    (with_(methods="GET"), "methods", "list"),
    (with_(methods=["ANY", "GET"]), "methods", "ANY alone"),
    (with_(auth="OAUTH"), "auth", "unknown auth"),
    (with_(auth="NONE"), "auth", "not allowed"),
    (with_(healthCheckPath="health"), "healthCheckPath", "must start with '/'"),
    (with_(cluster="not a cluster!"), "cluster", "not an ECS cluster"),
    (with_(throttleRate=Decimal(0)), "throttleRate", "(0, 10000]"),
    (with_(cacheTtlSeconds=Decimal(4000)), "cacheTtlSeconds", "from 0 to 3600"),
    (with_(containerName="bad name"), "containerName", "not a valid container name"),
    (with_(description="x" * 20_000), "item", "larger than"),
    (with_(healthCheckIntervalSeconds=Decimal(4)), "healthCheckIntervalSeconds", "from 5 to 300"),
    (with_(healthCheckIntervalSeconds=Decimal(301)), "healthCheckIntervalSeconds", "from 5 to 300"),
    (with_(healthCheckTimeoutSeconds=Decimal(1)), "healthCheckTimeoutSeconds", "from 2 to 120"),
    (with_(healthyThresholdCount=Decimal(1)), "healthyThresholdCount", "from 2 to 10"),
    (with_(unhealthyThresholdCount=Decimal(11)), "unhealthyThresholdCount", "from 2 to 10"),
    (with_(healthyThresholdCount="3"), "healthyThresholdCount", "must be a number"),
    (with_(healthCheckTimeoutSeconds=Decimal(5)), "healthCheckTimeoutSeconds", "less than its interval (5 s)"),
    (with_(healthCheckIntervalSeconds=Decimal(10), healthCheckTimeoutSeconds=Decimal(10)),
     "healthCheckTimeoutSeconds", "less than its interval (10 s)"),
]


@pytest.mark.parametrize(("item", "field", "words"), BAD, ids=[f"{f}:{w}" for _, f, w in BAD])
def test_bad_input_names_the_field_and_rule(item, field, words):
    with pytest.raises(SpecError) as exc:
        parse(item)
    assert exc.value.field == field
    assert words in str(exc.value)
    assert str(exc.value).startswith(f"{field}: ")


def test_none_auth_allowed_when_the_stack_allows_it():
    assert parse(with_(auth="NONE"), allow_unauthenticated=True).auth == "NONE"


def test_allowed_clusters():
    with pytest.raises(SpecError, match="not one of the clusters"):
        parse(with_(cluster="payments"), allowed_clusters=("demo",))
    arn = "arn:aws:ecs:us-east-1:123456789012:cluster/demo"
    assert parse(with_(cluster=arn), allowed_clusters=("demo",)).cluster_name == "demo"


def test_digest_changes_with_the_spec_only():
    a, b = parse(BASE), parse(with_(containerPort=Decimal(8081)))
    assert a.digest() == parse(dict(BASE)).digest() != b.digest()


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("/a", "/a", True), ("/a", "/a/b", True), ("/a/b", "/a", True), ("/a", "/ab", False), ("/a/b", "/a/c", False)])
def test_overlap(a, b, expected):
    assert overlap(a, b) is expected


def test_canonical_path_accepts_the_contract():
    assert canonical_path("/team-1/orders.v2/x_y") == "/team-1/orders.v2/x_y"


def test_health_check_defaults_to_the_quickest_aws_allows_and_each_setting_overrides():
    assert parse(BASE).health_check == HealthCheck(interval=5, timeout=4, healthy=2, unhealthy=2)
    assert parse(BASE).health_check.first_healthy_seconds == 10
    spec = parse(with_(healthCheckIntervalSeconds=Decimal(30), healthyThresholdCount=Decimal(3)))
    assert spec.health_check == HealthCheck(interval=30, timeout=4, healthy=3, unhealthy=2)
    assert spec.health_check.first_healthy_seconds == 90


def test_the_default_health_check_keeps_the_digest_entries_had_before_it_was_settable():
    assert parse(BASE).digest() == "c3b796d8496e4f05"  # BASE's digest before health checks were settable
    assert parse(with_(healthyThresholdCount=Decimal(2))).digest() == parse(BASE).digest()  # the default, given
    assert parse(with_(healthyThresholdCount=Decimal(3))).digest() != parse(BASE).digest()
