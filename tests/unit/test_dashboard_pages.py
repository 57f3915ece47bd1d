"""The services dashboard splits into pages of at most 500 widgets (CloudWatch's limit per dashboard)."""

from __future__ import annotations

import pytest

from portico.kinds import dashboard
from portico.observed import Observed, ProductObserved, dashboard_name, dashboard_pages
from portico.settings import Settings
from portico.state import Ledger, StateSnapshot
from portico.steps import Plan

pytestmark = pytest.mark.usefixtures("no_network")  # the planner is pure
SETTINGS = Settings(rest_api_id="api123", load_balancer_arns=("lb",), vpc_link_ids=("vl1",), vpc_id="vpc-1")


def observed(n: int, pages: dict | None = None) -> Observed:
    ledgers = {f"s{i:03d}": Ledger(f"s{i:03d}", path=f"/s{i:03d}") for i in range(n)}
    return Observed(state=StateSnapshot(ledgers=ledgers), load_balancers={}, target_groups={}, resources={}, ecs={},
                    product=ProductObserved(api_name="api", pages=pages or {}))


def test_400_services_make_three_pages_of_at_most_500_widgets():
    steps = dashboard.plan_pass(Plan(), observed(400), SETTINGS, "us-east-1")
    assert [s.params["name"] for s in steps] == [dashboard_name("portico", p) for p in (1, 2, 3)]
    assert [s.params["rows"] for s in steps] == [165, 165, 70]
    bodies = [dashboard.dashboard_body([dashboard.Route.from_json(r) for r in s.params["routes"]], api_name="api",
                                       stage="dev", region="us-east-1", target_group_arns={}, page=s.params["page"],
                                       pages=s.params["pages"]) for s in steps]
    assert max(len(b["widgets"]) for b in bodies) <= 500
    assert dashboard_pages(bodies[0]) == 3  # what the next pass reads to find pages 2 and 3


def test_a_page_no_longer_needed_is_deleted():
    stale = {dashboard_name("portico", 2): {"widgets": []}}
    steps = dashboard.plan_pass(Plan(), observed(10, stale), SETTINGS, "us-east-1")
    assert [s.action for s in steps] == ["put_dashboard", "delete_dashboards"]
    assert steps[1].params["names"] == [dashboard_name("portico", 2)]
    assert dashboard_pages(dashboard.dashboard_body([], api_name="a", stage="s", region="r",
                                                    target_group_arns={})) == 1
