"""The services dashboard: one page of Metrics Insights graphs, written by the pipeline when a load balancer gains
its first route or loses its last."""

from __future__ import annotations

import json

from portico.observed import dashboard_name
from portico.reconcile import ALL
from portico.registry import Registry
from portico.state import StateTable
from tests.conftest import spec_item
from tests.kinds.test_alarms import api_name


def dashboard(clients):
    return json.loads(clients.cloudwatch.get_dashboard(DashboardName=dashboard_name("portico"))["DashboardBody"])


def test_the_dashboard_is_one_page_of_metrics_insights_graphs_written_when_a_load_balancer_comes_or_goes(
        clients, stack, reconciler):
    reg = Registry(clients.dynamodb, stack.registry_table)
    for s in ("orders", "users", "catalog"):
        reg.put_spec(spec_item(s))
    reconciler.run(ALL)
    body = dashboard(clients)
    graphs = [w["properties"] for w in body["widgets"] if w["type"] == "metric"]
    ledgers = StateTable(clients.dynamodb, stack.state_table).snapshot().ledgers
    lbs = {ledger.load_balancer for ledger in ledgers.values()}
    assert len(graphs) == 4 + 2 * len(lbs)
    queries = [g["metrics"][0][0]["expression"] for g in graphs]
    assert queries[0] == (
        'SELECT AVG("5XXError") FROM SCHEMA("AWS/ApiGateway", ApiName, Method, Resource, Stage) '
        f"WHERE ApiName = '{api_name(clients, stack)}' AND Stage = 'prod' GROUP BY Resource ORDER BY AVG() DESC "
        "LIMIT 100")
    assert {q.split("WHERE LoadBalancer = ")[1].split("'")[1] for q in queries[4:]} == {
        lb.split(":loadbalancer/")[1] for lb in lbs}

    reg.put_spec(spec_item("more", ecsService="orders", path="/more"))
    reg.delete("users")
    reconciler.run(["users", "more"])  # a service on a load balancer that has routes, one leaving another
    assert dashboard(clients) == body  # no write: the graphs follow the services by themselves
    assert [s for s in reconciler.run(ALL, dry_run=True).plan.steps if "dashboard" in s.action] == []
