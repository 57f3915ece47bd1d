"""The services dashboard: one row per routed service, kept in step with the routes by every pass.

A CloudWatch dashboard holds at most 500 widgets (header + 3 per service), so past 165 services it is split
into pages `<stack>-services`, `-services-2`, …; the first page's header says how many there are."""

from __future__ import annotations

import json
from typing import Any

from ..observed import Observed, dashboard_name
from ..settings import Settings
from ..steps import ApplyContext, Plan, Route, Step, routes
from .alarms import elb_dimension, watched_stage

PER_PAGE = 165  # 1 + 3 × 165 = 496 widgets ≤ 500, CloudWatch's limit per dashboard


def dashboard_body(routes: list[Route], *, api_name: str, stage: str, region: str,
                   target_group_arns: dict[str, str], page: int = 1, pages: int = 1) -> dict[str, Any]:
    """One row per service: calls and errors, p50/p99 latency, NLB healthy/unhealthy targets."""
    of = f" (page {page} of {pages})" if pages > 1 else ""
    widgets: list[dict[str, Any]] = [{
        "type": "text", "x": 0, "y": 0, "width": 24, "height": 2,
        "properties": {"markdown": f"## portico — {api_name} / {stage}{of}\n"
                                   f"{len(routes)} service(s); one row each, kept in step by the reconciler."}}]
    for i, route in enumerate(sorted(routes, key=lambda r: r.service)):
        y = 2 + 6 * i
        pairs = route.method_pairs()

        def series(metric: str, stat: str, label: str, pairs=pairs) -> list[list[Any]]:
            return [["AWS/ApiGateway", metric, "ApiName", api_name, "Stage", stage, "Resource", r, "Method", m,
                     {"stat": stat, "label": f"{label} {m} {r}"}] for r, m in pairs]

        def widget(x: int, title: str, metrics: list[list[Any]], y=y) -> dict[str, Any]:
            return {"type": "metric", "x": x, "y": y, "width": 8, "height": 6, "properties": {
                "title": title, "region": region, "view": "timeSeries", "stacked": False, "period": 60,
                "metrics": metrics}}

        widgets.append(widget(0, f"{route.service} {route.path}: calls, 4XX, 5XX",
                              series("Count", "Sum", "calls") + series("4XXError", "Sum", "4XX")
                              + series("5XXError", "Sum", "5XX")))
        widgets.append(widget(8, f"{route.service}: latency p50 / p99 (ms)",
                              series("Latency", "p50", "p50") + series("Latency", "p99", "p99")))
        tg = target_group_arns.get(route.target_group or "")
        if tg and route.load_balancer:
            dims = ["TargetGroup", elb_dimension(tg), "LoadBalancer", elb_dimension(route.load_balancer)]
            nlb = [["AWS/NetworkELB", "HealthyHostCount", *dims, {"stat": "Minimum", "label": "healthy"}],
                   ["AWS/NetworkELB", "UnHealthyHostCount", *dims, {"stat": "Maximum", "label": "unhealthy"}]]
            widgets.append(widget(16, f"{route.service}: NLB targets ({route.target_group})", nlb))
        else:
            widgets.append({"type": "text", "x": 16, "y": y, "width": 8, "height": 6, "properties": {
                "markdown": f"{route.service}: no target group yet"}})
    return {"widgets": widgets}


def plan_pass(plan: Plan, obs: Observed, settings: Settings, region: str) -> list[Step]:
    product = obs.product
    if product is None:  # not read (a pure planner test without AWS): no product steps
        return []
    everything = routes(plan, obs)
    chunks = [everything[i:i + PER_PAGE] for i in range(0, len(everything), PER_PAGE)] or [[]]
    tgs = {name: tg.arn for name, tg in obs.target_groups.items()}
    # A target group created or replaced in this pass changes its row; the body is built at apply with its ARN.
    new_arns = {Route.of(plan.desired[s.service]).target_group for s in plan.steps
                if s.action in ("create_target_group", "delete_target_group") and s.service in plan.desired}
    steps = []
    for page, chunk in enumerate(chunks, 1):
        body = dashboard_body(chunk, api_name=product.api_name, stage=watched_stage(settings), region=region,
                              target_group_arns=tgs, page=page, pages=len(chunks))
        have = product.dashboard if page == 1 else product.pages.get(dashboard_name(settings.stack, page))
        fresh = any(r.target_group in new_arns for r in chunk)
        if (body == have and not fresh) or not (chunk or have is not None):  # none before a route
            continue
        steps.append(Step("put_dashboard", "*", {"name": dashboard_name(settings.stack, page), "rows": len(chunk),
                                                 "page": page, "pages": len(chunks),
                                                 "routes": [r.to_json() for r in chunk]}))
    stale = sorted(set(product.pages) - {dashboard_name(settings.stack, p) for p in range(2, len(chunks) + 1)})
    if stale:
        steps.append(Step("delete_dashboards", "*", {"names": stale}))
    return steps


def put_dashboard(step: Step, ctx: ApplyContext) -> None:
    product = ctx.observed.product
    p = step.params
    body = dashboard_body([Route.from_json(r) for r in p["routes"]],
                          api_name=product.api_name if product else "", stage=watched_stage(ctx.settings),
                          region=ctx.clients.region, target_group_arns=ctx.tg_arns, page=p.get("page", 1),
                          pages=p.get("pages", 1))
    ctx.clients.cloudwatch.put_dashboard(DashboardName=p["name"], DashboardBody=json.dumps(body))


def delete_dashboards(step: Step, ctx: ApplyContext) -> None:
    ctx.clients.cloudwatch.delete_dashboards(DashboardNames=step.params["names"])


APPLY = {"put_dashboard": put_dashboard, "delete_dashboards": delete_dashboards}
