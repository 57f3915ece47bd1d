"""The local data plane routes through a VPC link v2 (to the NLB the integration names) as through v1 links,
and a stack migrated from v1 to v2 keeps answering: before, during (one pass) and after."""

from __future__ import annotations

import time

import pytest

from portico.ops.links import migrate_link

from .conftest import Stack, spec_item, start_plane


@pytest.fixture(scope="module")
def both(moto_endpoint):
    stack = Stack(moto_endpoint, load_balancers=2, port_range=(10000, 10000), vpc_links="v1+v2")
    stack.onboard(spec_item("orders", auth="NONE"), spec_item("users", auth="NONE"))
    start_plane(stack)
    yield stack
    stack.plane.stop()
    stack.http.close()


def test_traffic_continues_from_v1_links_to_the_v2_link(both):
    assert both.wait_for("/orders/a").status_code == 200
    assert both.wait_for("/users/b").status_code == 200
    migrate_link(both.reconciler, "v2")
    items = both.clients.apigateway.get_resources(restApiId=both.settings.rest_api_id, embed=["methods"])["items"]
    targets = {r["path"]: r["resourceMethods"]["ANY"]["methodIntegration"].get("integrationTarget")
               for r in items if r["path"] in ("/orders", "/users")}
    assert sorted(targets.values()) == sorted(both.settings.load_balancer_arns), "one service on each NLB"
    for _ in range(8):  # the plane re-reads the API every second: every answer, old and new, is the service's
        for path in ("/orders/a", "/users/b"):
            assert both.http.get(both.url(path)).status_code == 200
        time.sleep(0.25)
    assert both.wait_for("/orders/a").status_code == 200
