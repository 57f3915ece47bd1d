"""ServiceRoute properties → registry item: CloudFormation's strings become the registry's types. No AWS."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portico.spec import SPEC_ATTRIBUTES, parse
from portico.triggers.cfn.answer import Failure
from portico.triggers.cfn.properties import route_item


def test_strings_from_cloudformation_become_numbers_lists_and_booleans():
    item = route_item({"ServiceToken": "arn", "ServiceTimeout": "900", "Service": "orders", "Cluster": "123",
                       "ContainerPort": "8080", "Path": "/orders", "Methods": "GET, POST", "ThrottleRate": "2.5",
                       "ThrottleBurst": "10", "CacheTtlSeconds": "0", "ContainerName": "", "HealthCheckPath": ""})
    assert item == {"service": "orders", "cluster": "123", "containerPort": Decimal(8080), "path": "/orders",
                    "methods": ["GET", "POST"], "throttleRate": Decimal("2.5"), "throttleBurst": Decimal(10),
                    "cacheTtlSeconds": Decimal(0)}
    spec = parse(item)
    assert spec.container_port == 8080 and spec.throttle_rate == 2.5 and spec.cluster == "123"


def test_health_check_properties_become_the_registry_numbers():
    item = route_item({"Service": "orders", "Cluster": "c", "ContainerPort": "80", "Path": "/orders",
                       "HealthCheckIntervalSeconds": "10", "HealthCheckTimeoutSeconds": "5",
                       "HealthyThresholdCount": "3", "UnhealthyThresholdCount": "4"})
    check = parse(item).health_check
    assert (check.interval, check.timeout, check.healthy, check.unhealthy) == (10, 5, 3, 4)


def test_every_registry_attribute_has_a_property():
    props = {a[:1].upper() + a[1:]: "x" for a in SPEC_ATTRIBUTES}
    assert set(route_item(props)) == set(SPEC_ATTRIBUTES)


def test_an_empty_required_property_is_kept_for_the_registry_to_reject():
    assert route_item({"Path": ""}) == {"path": ""}


def test_unknown_properties_are_named():
    with pytest.raises(Failure) as err:
        route_item({"Service": "orders", "Port": "80", "Pth": "/x"})
    assert err.value.reason.startswith("Port: not a property of Custom::ServiceRoute; allowed: Service, Cluster,")
