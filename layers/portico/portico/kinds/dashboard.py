"""The services dashboard: one page whose size does not grow with the services, kept in step by every pass.

Its graphs are Metrics Insights queries over the watched stage (the last of PORTICO_STAGES), each naming the
resources or target groups it draws, the top 100 of each (GROUP BY ... ORDER BY ... LIMIT 100): the API's 5XX and
4XX rates, calls and average latency by resource, and per load balancer its unhealthy and healthy targets by target
group. A row per service made a dashboard past its limits (500 widgets, 2,500 metrics across its widgets, 500 per
widget: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html) and a dashboard write
per onboarding; this one is 5 + 2 per load balancer widgets, one query each (a GetMetricData, and so a widget, runs
one Metrics Insights query:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-limits.html), and is
written when a load balancer gains its first route or loses its last. Percentiles are not Metrics Insights
functions: a service's p99 is its p99 alarm's graph and `portico metrics SERVICE`.

Earlier versions split the rows into pages `<stack>-services-2`, …; those pages are deleted."""

from __future__ import annotations

import json
from typing import Any

from ..context import ApplyContext
from ..observed import Observed, dashboard_name
from ..settings import Settings
from ..steps import Plan, Step, routes
from .alarms import elb_dimension, watched_stage

TOP = 100  # series per graph: the worst (or busiest) 100


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _graph(x: int, y: int, title: str, query: str, label: str, region: str) -> dict[str, Any]:
    return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": {
        "title": title, "region": region, "view": "timeSeries", "stacked": False, "period": 60,
        "metrics": [[{"expression": query, "label": label, "id": "q"}]]}}


def dashboard_body(load_balancers: list[str], *, api_name: str, stage: str, region: str,
                   backend: str = "nlb") -> dict[str, Any]:
    """The API's graphs by resource, then two graphs per load balancer by target group."""
    api = (f'FROM SCHEMA("AWS/ApiGateway", ApiName, Method, Resource, Stage) '
           f"WHERE ApiName = {_quoted(api_name)} AND Stage = {_quoted(stage)} GROUP BY Resource")
    graphs = [
        ("5XX rate by resource (worst 100)", f'SELECT AVG("5XXError") {api} ORDER BY AVG() DESC LIMIT {TOP}', "5XX"),
        ("4XX rate by resource (worst 100)", f'SELECT AVG("4XXError") {api} ORDER BY AVG() DESC LIMIT {TOP}', "4XX"),
        ("calls by resource (busiest 100)", f'SELECT SUM("Count") {api} ORDER BY SUM() DESC LIMIT {TOP}', "calls"),
        ("average latency by resource, ms (slowest 100)",
         f"SELECT AVG(Latency) {api} ORDER BY AVG() DESC LIMIT {TOP}", "latency")]
    namespace = "AWS/ApplicationELB" if backend == "alb" else "AWS/NetworkELB"
    for lb in load_balancers:
        where = (f'FROM SCHEMA("{namespace}", LoadBalancer, TargetGroup) '
                 f"WHERE LoadBalancer = {_quoted(elb_dimension(lb))} GROUP BY TargetGroup")
        graphs += [(f"unhealthy targets by target group: {elb_dimension(lb)}",
                    f"SELECT MAX(UnHealthyHostCount) {where} ORDER BY MAX() DESC LIMIT {TOP}", "unhealthy"),
                   (f"healthy targets by target group: {elb_dimension(lb)}",
                    f"SELECT MIN(HealthyHostCount) {where} ORDER BY MIN() ASC LIMIT {TOP}", "healthy")]
    header = {"type": "text", "x": 0, "y": 0, "width": 24, "height": 2, "properties": {"markdown": (
        f"## portico — {api_name} / {stage}\nEvery routed service, by resource (its path and {{proxy+}}) and by "
        f"target group; {len(load_balancers)} load balancer(s). A service's p99: its p99 alarm.")}}
    return {"widgets": [header, *(_graph(12 * (i % 2), 2 + 6 * (i // 2), title, query, label, region)
                                  for i, (title, query, label) in enumerate(graphs))]}


def plan_pass(plan: Plan, obs: Observed, settings: Settings, region: str) -> list[Step]:
    product = obs.product
    if product is None:  # not read (a pure planner test without AWS): no product steps
        return []
    lbs = sorted({r.load_balancer for r in routes(plan, obs) if r.load_balancer})
    steps = []
    if lbs or product.dashboard is not None:  # none before a route
        body = dashboard_body(lbs, api_name=product.api_name, stage=watched_stage(settings), region=region,
                              backend=settings.backend)
        if body != product.dashboard:
            steps.append(Step("put_dashboard", "*", {"name": dashboard_name(settings.stack), "loadBalancers": lbs}))
    if product.pages:  # an earlier version's pages 2..K
        steps.append(Step("delete_dashboards", "*", {"names": sorted(product.pages)}))
    return steps


def put_dashboard(step: Step, ctx: ApplyContext) -> None:
    product = ctx.observed.product
    body = dashboard_body(step.params["loadBalancers"], api_name=product.api_name if product else "",
                          stage=watched_stage(ctx.settings), region=ctx.clients.region, backend=ctx.settings.backend)
    ctx.clients.cloudwatch.put_dashboard(DashboardName=step.params["name"], DashboardBody=json.dumps(body))


def delete_dashboards(step: Step, ctx: ApplyContext) -> None:
    ctx.clients.cloudwatch.delete_dashboards(DashboardNames=step.params["names"])


APPLY = {"put_dashboard": put_dashboard, "delete_dashboards": delete_dashboards}
