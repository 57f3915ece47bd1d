"""Per-service CloudWatch alarms and the services dashboard: pure builders of the API requests.

Three alarms per service, sent to the stack's alarm topic (PORTICO_ALARM_TOPIC_ARN), on the last stage
of PORTICO_STAGES (production: where a failure pages someone):
  <stack>-svc-<service>-5xx-rate       5XX responses / calls on the service's methods, in %, over 1 min
  <stack>-svc-<service>-p99-latency    the worst p99 Latency of the service's methods
  <stack>-svc-<service>-unhealthy      NLB UnHealthyHostCount of the service's target group
The per-method ApiGateway metrics exist because every routed method has detailed metrics on (see
`stagesettings`). Each alarm's description carries a hash of its definition, so a re-run compares
hashes and rewrites only an alarm whose definition changed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .observed import alarm_prefix

FIVE_XX_PERCENT = 5.0  # alarm when more than 5% of calls fail with 5XX ...
P99_LATENCY_MS = 5000.0  # ... or p99 latency is above 5 s (the integration timeout is 29 s) ...
PERIOD, EVALUATION_PERIODS, DATAPOINTS = 60, 5, 3  # ... in 3 of the last 5 minutes
MAX_METHOD_METRICS = 5  # CloudWatch allows 10 metrics per alarm: (errors, calls) x 5 methods


@dataclass(frozen=True)
class Route:
    """What the alarms and the dashboard need to know about one routed service."""

    service: str
    path: str
    methods: tuple[str, ...]
    target_group: str | None  # name; the ARN is resolved when the request is built
    load_balancer: str | None  # ARN


def watched_stage(settings) -> str:
    """The stage the alarms and the dashboard watch: the last of PORTICO_STAGES, the one users call (prod)."""
    return settings.stages[-1] if settings.stages else settings.stage


def alarm_names(stack: str, service: str) -> list[str]:
    base = f"{alarm_prefix(stack)}{service}"
    return [f"{base}-5xx-rate", f"{base}-p99-latency", f"{base}-unhealthy"]


def method_pairs(route: Route) -> list[tuple[str, str]]:
    """(resource path, method) of the service: the route and its {proxy+} child."""
    return [(p, m) for p in (route.path, f"{route.path}/{{proxy+}}") for m in route.methods]


def _api_metric(name: str, api: str, stage: str, resource: str, method: str) -> dict[str, Any]:
    return {"Namespace": "AWS/ApiGateway", "MetricName": name, "Dimensions": [
        {"Name": "ApiName", "Value": api}, {"Name": "Stage", "Value": stage},
        {"Name": "Resource", "Value": resource}, {"Name": "Method", "Value": method}]}


def elb_dimension(arn: str) -> str:
    """`arn:...:targetgroup/name/id` -> `targetgroup/name/id`; `...:loadbalancer/net/name/id` -> `net/name/id`."""
    tail = arn.split(":", 5)[-1]
    return tail.removeprefix("loadbalancer/")


def _with_hash(request: dict[str, Any], what: str) -> dict[str, Any]:
    digest = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:12]
    request["AlarmDescription"] = f"portico: {what} [def {digest}]"
    return request


def definition_hash(alarm: dict[str, Any]) -> str | None:
    text = alarm.get("AlarmDescription") or ""
    start = text.rfind("[def ")
    return text[start + 5:-1] if start >= 0 and text.endswith("]") else None


def alarm_requests(route: Route, *, stack: str, api_name: str, stage: str, topic: str,
                   target_group_arn: str | None) -> list[dict[str, Any]]:
    """put_metric_alarm keyword arguments for the service's three alarms."""
    names = alarm_names(stack, route.service)
    actions = [topic] if topic else []
    common = {"ComparisonOperator": "GreaterThanThreshold", "EvaluationPeriods": EVALUATION_PERIODS,
              "DatapointsToAlarm": DATAPOINTS, "TreatMissingData": "notBreaching",
              "AlarmActions": actions, "OKActions": actions}
    pairs = method_pairs(route)[:MAX_METHOD_METRICS]
    errors = [{"Id": f"e{i}", "ReturnData": False, "MetricStat": {
        "Metric": _api_metric("5XXError", api_name, stage, r, m), "Period": PERIOD, "Stat": "Sum"}}
        for i, (r, m) in enumerate(pairs)]
    calls = [{"Id": f"c{i}", "ReturnData": False, "MetricStat": {
        "Metric": _api_metric("Count", api_name, stage, r, m), "Period": PERIOD, "Stat": "Sum"}}
        for i, (r, m) in enumerate(pairs)]
    rate = " + ".join(q["Id"] for q in errors), " + ".join(q["Id"] for q in calls)
    five_xx = {"AlarmName": names[0], "Threshold": FIVE_XX_PERCENT, **common, "Metrics": [
        *errors, *calls, {"Id": "rate", "Label": "5XX %", "ReturnData": True,
                          "Expression": f"100 * ({rate[0]}) / ({rate[1]})"}]}
    latency = [{"Id": f"l{i}", "ReturnData": False, "MetricStat": {
        "Metric": _api_metric("Latency", api_name, stage, r, m), "Period": PERIOD, "Stat": "p99"}}
        for i, (r, m) in enumerate(method_pairs(route)[:9])]
    p99 = {"AlarmName": names[1], "Threshold": P99_LATENCY_MS, **common, "Metrics": [
        *latency, {"Id": "p99", "Label": "p99 latency (ms)", "ReturnData": True,
                   "Expression": f"MAX([{', '.join(q['Id'] for q in latency)}])"}]}
    out = [_with_hash(five_xx, f"{route.service} {route.path}: 5XX responses above {FIVE_XX_PERCENT:g}% of calls"),
           _with_hash(p99, f"{route.service} {route.path}: p99 latency above {P99_LATENCY_MS:g} ms")]
    if target_group_arn and route.load_balancer:
        unhealthy = {"AlarmName": names[2], "Threshold": 0.0, **common, "EvaluationPeriods": 3,
                     "DatapointsToAlarm": 3, "Namespace": "AWS/NetworkELB", "MetricName": "UnHealthyHostCount",
                     "Statistic": "Maximum", "Period": PERIOD, "Dimensions": [
                         {"Name": "TargetGroup", "Value": elb_dimension(target_group_arn)},
                         {"Name": "LoadBalancer", "Value": elb_dimension(route.load_balancer)}]}
        out.append(_with_hash(unhealthy, f"{route.service}: NLB targets unhealthy in target group "
                                         f"{route.target_group}"))
    return out


def alarms_differ(requests: list[dict[str, Any]], observed: dict[str, dict[str, Any]]) -> bool:
    for request in requests:
        have = observed.get(request["AlarmName"])
        if have is None or definition_hash(have) != definition_hash(request):
            return True
    return False


# -- dashboard -------------------------------------------------------------------------------------------
def dashboard_body(routes: list[Route], *, api_name: str, stage: str, region: str,
                   target_group_arns: dict[str, str]) -> dict[str, Any]:
    """One row per service: calls and errors, p50/p99 latency, NLB healthy/unhealthy targets."""
    widgets: list[dict[str, Any]] = [{
        "type": "text", "x": 0, "y": 0, "width": 24, "height": 2,
        "properties": {"markdown": f"## portico — {api_name} / {stage}\n"
                                   f"{len(routes)} service(s); one row each, kept in step by the reconciler."}}]
    for i, route in enumerate(sorted(routes, key=lambda r: r.service)):
        y = 2 + 6 * i
        pairs = method_pairs(route)

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
