"""The services dashboard is one page whose size does not grow with the services: 5 widgets and 2 per load
balancer, each one Metrics Insights query, far inside CloudWatch's 500 widgets and 2,500 metrics per dashboard."""

from __future__ import annotations

import pytest

from portico.kinds import dashboard
from portico.observed import Observed, ProductObserved, dashboard_name
from portico.settings import Settings
from portico.state import Ledger, StateSnapshot
from portico.steps import Plan
from portico_cli.local_aws.emulator.cloudwatch import parse_insights

pytestmark = pytest.mark.usefixtures("no_network")  # the planner is pure
SETTINGS = Settings(rest_api_id="api123", load_balancer_arns=("lb",), vpc_link_ids=("vl1",), vpc_id="vpc-1")
LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/nlb-{}/id{}"


def observed(n: int, pages: dict | None = None, body: dict | None = None) -> Observed:
    ledgers = {f"s{i:04d}": Ledger(f"s{i:04d}", LB.format(i // 50, i // 50), path=f"/s{i:04d}") for i in range(n)}
    return Observed(state=StateSnapshot(ledgers=ledgers), load_balancers={}, target_groups={}, resources={}, ecs={},
                    product=ProductObserved(api_name="api", dashboard=body, pages=pages or {}))


def body_of(step) -> dict:
    return dashboard.dashboard_body(step.params["loadBalancers"], api_name="api", stage="dev", region="us-east-1")


@pytest.mark.parametrize("n", [1, 400, 1000])
def test_n_services_make_one_page_of_five_widgets_and_two_per_load_balancer(n):
    [step] = dashboard.plan_pass(Plan(), observed(n), SETTINGS, "us-east-1")
    assert (step.action, step.params["name"]) == ("put_dashboard", dashboard_name("portico"))
    widgets = body_of(step)["widgets"]
    assert len(widgets) == 5 + 2 * -(-n // 50)  # 1000 services behind 20 NLBs: 45 widgets
    queries = [m[0]["expression"] for w in widgets[1:] for m in w["properties"]["metrics"]]
    assert len(queries) == len(widgets) - 1  # one Metrics Insights query a widget, as GetMetricData runs one
    for query in queries:
        parsed = parse_insights(query)  # the grammar the emulator holds alarms to
        assert parsed["group_by"] in (["Resource"], ["TargetGroup"]) and parsed["limit"] == 100


def test_onboarding_onto_a_load_balancer_that_has_routes_leaves_the_dashboard_alone():
    [step] = dashboard.plan_pass(Plan(), observed(40), SETTINGS, "us-east-1")
    assert dashboard.plan_pass(Plan(), observed(45, body=body_of(step)), SETTINGS, "us-east-1") == []
    assert [s.action for s in dashboard.plan_pass(Plan(), observed(51, body=body_of(step)), SETTINGS,
                                                  "us-east-1")] == ["put_dashboard"]  # a second NLB


def test_an_earlier_version_s_pages_are_deleted():
    stale = {dashboard_name("portico", 2): {"widgets": []}, dashboard_name("portico", 3): {"widgets": []}}
    steps = dashboard.plan_pass(Plan(), observed(10, stale), SETTINGS, "us-east-1")
    assert [s.action for s in steps] == ["put_dashboard", "delete_dashboards"]
    assert steps[1].params["names"] == [dashboard_name("portico", 2), dashboard_name("portico", 3)]
