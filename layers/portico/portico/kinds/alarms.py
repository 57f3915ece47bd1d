"""Per-service CloudWatch alarms, created with the route and deleted when it is offboarded.

Three alarms per service, sent to the stack's alarm topic (PORTICO_ALARM_TOPIC_ARN), on the last stage
of PORTICO_STAGES (production: where a failure pages someone):
  <stack>-svc-<service>-5xx-rate       5XX responses / calls on the service's methods, in %, over 1 min
  <stack>-svc-<service>-p99-latency    the worst p99 Latency of the service's methods
  <stack>-svc-<service>-unhealthy      NLB UnHealthyHostCount of the service's target group
The per-method ApiGateway metrics exist because every routed method has detailed metrics on (see
`kinds.stage`). Each alarm's description carries a hash of its definition, so a re-run compares
hashes and rewrites only an alarm whose definition changed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from botocore.exceptions import ClientError

from ..errors import is_not_found
from ..observed import Observed, alarm_prefix
from ..settings import Settings
from ..steps import ApplyContext, Plan, Route, Step

FIVE_XX_PERCENT = 5.0  # alarm when more than 5% of calls fail with 5XX ...
P99_LATENCY_MS = 5000.0  # ... or p99 latency is above 5 s (the integration timeout is 29 s) ...
PERIOD, EVALUATION_PERIODS, DATAPOINTS = 60, 5, 3  # ... in 3 of the last 5 minutes
MAX_METHOD_METRICS = 5  # CloudWatch allows 10 metrics per alarm: (errors, calls) x 5 methods


def watched_stage(settings) -> str:
    """The stage the alarms and the dashboard watch: the last of PORTICO_STAGES, the one users call (prod)."""
    return settings.stages[-1] if settings.stages else settings.stage


def alarm_names(stack: str, service: str) -> list[str]:
    base = f"{alarm_prefix(stack)}{service}"
    return [f"{base}-5xx-rate", f"{base}-p99-latency", f"{base}-unhealthy"]


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
    pairs = route.method_pairs()[:MAX_METHOD_METRICS]
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
        for i, (r, m) in enumerate(route.method_pairs()[:9])]
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


def _requests(route: Route, settings: Settings, api_name: str, tg_arns: dict[str, str]) -> list[dict[str, Any]]:
    return alarm_requests(route, stack=settings.stack, api_name=api_name, stage=watched_stage(settings),
                          topic=settings.alarm_topic_arn, target_group_arn=tg_arns.get(route.target_group or ""))


def plan_pass(plan: Plan, obs: Observed, settings: Settings, region: str) -> list[Step]:
    product = obs.product
    if product is None:  # not read (a pure planner test without AWS): no product steps
        return []
    tg_arns = {name: tg.arn for name, tg in obs.target_groups.items()}
    steps = []
    for service, d in sorted(plan.desired.items()):
        route = Route.of(d)
        names = alarm_names(settings.stack, service)
        ledger = obs.state.ledgers.get(service)
        if set(names) - set(product.alarms) or alarms_differ(_requests(route, settings, product.api_name, tg_arns),
                                                             product.alarms) or \
                not ledger or sorted(ledger.alarms) != sorted(names):
            steps.append(Step("put_alarms", service, {"alarms": len(names), "route": route.to_json(),
                                                      "names": names}))
    for service in plan.removed:
        ledger = obs.state.ledgers[service]
        names = sorted(set(ledger.alarms) | {n for n in alarm_names(settings.stack, service) if n in product.alarms})
        if names:
            steps.append(Step("delete_alarms", service, {"names": names}))
    return steps


def put_alarms(step: Step, ctx: ApplyContext) -> None:
    product = ctx.observed.product
    requests = _requests(Route.from_json(step.params["route"]), ctx.settings, product.api_name if product else "",
                         ctx.tg_arns)
    for request in requests:
        ctx.clients.cloudwatch.put_metric_alarm(**request)
    made = [r["AlarmName"] for r in requests]
    stale = [n for n in step.params["names"] if n not in made and product and n in product.alarms]
    if stale:
        ctx.clients.cloudwatch.delete_alarms(AlarmNames=stale)
    ctx.ledger(step.service).alarms = made


def delete_alarms(step: Step, ctx: ApplyContext) -> None:
    names = step.params["names"]
    for i in range(0, len(names), 100):  # DeleteAlarms takes 100 names per call
        try:
            ctx.clients.cloudwatch.delete_alarms(AlarmNames=names[i:i + 100])
        except ClientError as exc:
            if not is_not_found(exc):
                raise
    ledger = ctx.ledger(step.service)
    ledger.alarms = [n for n in ledger.alarms if n not in names]


APPLY = {"put_alarms": put_alarms, "delete_alarms": delete_alarms}
