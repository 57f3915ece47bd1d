"""CloudWatch alarms on the routed services: one per load balancer and one per API, not three per service.

PutMetricAlarm is limited to 3 TPS per Region (and DeleteAlarms to 3 TPS; CloudWatch service quotas,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html): three alarms per service
made a pass of 1,000 services 3,000 calls, over 1,000 s. A Metrics Insights alarm watches every time series its
query returns and names each one in ALARM, a contributor, by its GROUP BY label
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Create_Metrics_Insights_Alarm.html). The routing
pass keeps, sent to the stack's alarm topic (PORTICO_ALARM_TOPIC_ARN), on the last stage of PORTICO_STAGES:

  <stack>-svc-_5xx-rate            AVG(5XXError) GROUP BY Resource: the 5XX rate of each API resource (a service is
                                   its path and {proxy+}); API Gateway's Average of 5XXError is the error rate
                                   (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html)
  <stack>-svc-_unhealthy-<lb>      MAX(UnHealthyHostCount) GROUP BY TargetGroup on one load balancer: ≤ 50 target
                                   groups behind an NLB (50 listeners), ≤ 100 behind an ALB

Metrics Insights aggregates with AVG, COUNT, MAX, MIN and SUM only, and its WHERE takes `=`, `!=` and `AND`
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-querylanguage.html, its
"Supported operators" as kept in awsdocs/amazon-cloudwatch-user-guide; no source read names OR, IN or LIKE), so a
query selects by API and stage or by load balancer, never by a list of services. A query
returns ≤ 500 time series and processes ≤ 10,000 metrics; an account has 200 Metrics Insights alarms per Region
by default (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-limits.html);
an alarm lists ≤ 100 contributors in ALARM (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html).
The 5XX query orders by AVG() descending, so past 500 resources (250 services) the 500 worst are the ones evaluated.

A percentile is none of those functions, so the p99 latency stays one classic alarm per service,
`<stack>-svc-<service>-p99-latency`, off the routing pass: the sweeper writes them after its pass
(`write_latency_alarms`) for the READY services of its shard that lack theirs, at most LATENCY_PER_SWEEP a sweep,
3 a second; the routing pass only deletes them, with their service.

Each alarm's description carries a hash of its definition, so a re-run compares hashes and rewrites only an alarm
whose definition changed; a converged pass makes no CloudWatch call.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

from botocore.exceptions import ClientError

from ..clients import Clients
from ..context import ApplyContext
from ..errors import is_not_found
from ..observed import Observed, alarm_prefix
from ..settings import Settings
from ..spec import SERVICE_RE
from ..steps import Plan, Route, Step, routes

FIVE_XX_RATE = 0.05  # alarm when more than 5% of a resource's calls fail with 5XX ...
P99_LATENCY_MS = 5000.0  # ... or a service's p99 latency is above 5 s (the integration timeout is 29 s) ...
PERIOD, EVALUATION_PERIODS, DATAPOINTS = 60, 5, 3  # ... in 3 of the last 5 minutes
MAX_LATENCY_METRICS = 9  # an alarm's metric math reads ≤ 10 metrics: 9 (method, resource) pairs and MAX of them
LATENCY_PER_SWEEP = 30  # p99 alarms written after one sweep: 10 s at PutMetricAlarm's 3 TPS
CALL_INTERVAL = 1 / 3  # seconds between two PutMetricAlarm (or DeleteAlarms) calls: 3 TPS per Region
LEGACY = ("-5xx-rate", "-unhealthy")  # per-service alarms of earlier versions, deleted in passing


def watched_stage(settings) -> str:
    """The stage the alarms and the dashboard watch: the last of PORTICO_STAGES, the one users call (prod)."""
    return settings.stages[-1] if settings.stages else settings.stage


def latency_alarm_name(stack: str, service: str) -> str:
    return f"{alarm_prefix(stack)}{service}-p99-latency"


def alarm_names(stack: str, service: str) -> list[str]:
    """Every alarm name portico has given one service (its p99 alarm and earlier versions' 5XX and unhealthy)."""
    base = f"{alarm_prefix(stack)}{service}"
    return sorted([latency_alarm_name(stack, service), *(base + suffix for suffix in LEGACY)])


def group_name(stack: str, kind: str, key: str = "") -> str:
    """A group alarm's name: `_` cannot start a service name, so it never meets a service's alarm."""
    return f"{alarm_prefix(stack)}_{kind}" + (f"-{key}" if key else "")


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


def _common(topic: str) -> dict[str, Any]:
    actions = [topic] if topic else []
    return {"ComparisonOperator": "GreaterThanThreshold", "EvaluationPeriods": EVALUATION_PERIODS,
            "DatapointsToAlarm": DATAPOINTS, "TreatMissingData": "notBreaching",
            "AlarmActions": actions, "OKActions": actions}


def _quoted(value: str) -> str:
    """A Metrics Insights label value: in single quotes, a quote in it escaped with a backslash."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _insights(query: str, label: str) -> list[dict[str, Any]]:
    return [{"Id": "q", "Label": label, "ReturnData": True, "Period": PERIOD, "Expression": query}]


def five_xx_request(*, stack: str, api_name: str, stage: str, topic: str) -> dict[str, Any]:
    """The API's 5XX alarm: one contributor per resource (GROUP BY Resource), the worst first."""
    query = (f'SELECT AVG("5XXError") FROM SCHEMA("AWS/ApiGateway", ApiName, Method, Resource, Stage) '
             f"WHERE ApiName = {_quoted(api_name)} AND Stage = {_quoted(stage)} GROUP BY Resource "
             f"ORDER BY AVG() DESC LIMIT 500")
    request = {"AlarmName": group_name(stack, "5xx-rate"), "Threshold": FIVE_XX_RATE, **_common(topic),
               "Metrics": _insights(query, "5XX rate")}
    return _with_hash(request, f"5XX responses above {FIVE_XX_RATE:.0%} of a resource's calls on {api_name} "
                               f"stage {stage}; each contributor is a resource, a service's path or its {{proxy+}}")


def unhealthy_request(load_balancer: str, *, stack: str, backend: str, topic: str) -> dict[str, Any]:
    """One load balancer's alarm: one contributor per target group (GROUP BY TargetGroup)."""
    namespace = "AWS/ApplicationELB" if backend == "alb" else "AWS/NetworkELB"
    dimension = elb_dimension(load_balancer)
    query = (f'SELECT MAX(UnHealthyHostCount) FROM SCHEMA("{namespace}", LoadBalancer, TargetGroup) '
             f"WHERE LoadBalancer = {_quoted(dimension)} GROUP BY TargetGroup")
    request = {"AlarmName": group_name(stack, "unhealthy", dimension.split("/")[1]), "Threshold": 0.0,
               **_common(topic), "EvaluationPeriods": 3, "DatapointsToAlarm": 3,
               "Metrics": _insights(query, "unhealthy targets")}
    return _with_hash(request, f"targets unhealthy behind {dimension}; each contributor is a target group, "
                               f"a service's (portico names them {stack}-<service>-<hash>)")


def _api_metric(name: str, api: str, stage: str, resource: str, method: str) -> dict[str, Any]:
    return {"Namespace": "AWS/ApiGateway", "MetricName": name, "Dimensions": [
        {"Name": "ApiName", "Value": api}, {"Name": "Stage", "Value": stage},
        {"Name": "Resource", "Value": resource}, {"Name": "Method", "Value": method}]}


def latency_request(route: Route, *, stack: str, api_name: str, stage: str, topic: str) -> dict[str, Any]:
    """A service's p99 alarm: metric math MAX over its methods' Latency p99."""
    latency = [{"Id": f"l{i}", "ReturnData": False, "MetricStat": {
        "Metric": _api_metric("Latency", api_name, stage, r, m), "Period": PERIOD, "Stat": "p99"}}
        for i, (r, m) in enumerate(route.method_pairs()[:MAX_LATENCY_METRICS])]
    request = {"AlarmName": latency_alarm_name(stack, route.service), "Threshold": P99_LATENCY_MS,
               **_common(topic), "Metrics": [*latency, {
                   "Id": "p99", "Label": "p99 latency (ms)", "ReturnData": True,
                   "Expression": f"MAX([{', '.join(q['Id'] for q in latency)}])"}]}
    return _with_hash(request, f"{route.service} {route.path}: p99 latency above {P99_LATENCY_MS:g} ms")


def group_requests(everything: list[Route], settings: Settings, api_name: str) -> list[dict[str, Any]]:
    """The routing pass's alarms for these routes: the API's, and one per load balancer that holds a route."""
    if not everything:
        return []
    lbs = sorted({r.load_balancer for r in everything if r.load_balancer})
    return [_api_alarm(settings, api_name), *(_unhealthy(lb, settings) for lb in lbs)]


def _api_alarm(settings: Settings, api_name: str) -> dict[str, Any]:
    return five_xx_request(stack=settings.stack, api_name=api_name, stage=watched_stage(settings),
                           topic=settings.alarm_topic_arn)


def _unhealthy(load_balancer: str, settings: Settings) -> dict[str, Any]:
    return unhealthy_request(load_balancer, stack=settings.stack, backend=settings.backend,
                             topic=settings.alarm_topic_arn)


def _lb_alarm(load_balancer: str, settings: Settings) -> str:
    return group_name(settings.stack, "unhealthy", elb_dimension(load_balancer).split("/")[1])


def _stale(request: dict[str, Any], observed: dict[str, dict[str, Any]]) -> bool:
    have = observed.get(request["AlarmName"])
    return have is None or definition_hash(have) != definition_hash(request)


def plan_pass(plan: Plan, obs: Observed, settings: Settings, region: str) -> list[Step]:
    product = obs.product
    if product is None:  # not read (a pure planner test without AWS): no product steps
        return []
    stack, have = settings.stack, product.alarms
    everything = routes(plan, obs)
    groups = group_requests(everything, settings, product.api_name)
    steps = []
    todo = {g["AlarmName"] for g in groups if _stale(g, have)}
    lbs = sorted({r.load_balancer for r in everything if r.load_balancer})
    if todo:
        steps.append(Step("put_alarms", "*", {"api": group_name(stack, "5xx-rate") in todo,
                                              "loadBalancers": [lb for lb in lbs if _lb_alarm(lb, settings) in todo]}))
    for service in plan.removed:  # the ledger's names and the service's names that exist
        ledger = obs.state.ledgers[service]
        names = sorted(set(ledger.alarms) | {n for n in alarm_names(stack, service) if n in have})
        if names:
            steps.append(Step("delete_alarms", service, {"names": names}))
    kept = {g["AlarmName"] for g in groups} | {latency_alarm_name(stack, r.service) for r in everything}
    gone = set(plan.removed)
    stale = sorted(n for n in have if n not in kept and _owned(n, stack) and _service_of(n, stack) not in gone)
    if stale:  # group alarms of load balancers with no route, earlier versions' alarms, orphans of a lost race
        steps.append(Step("delete_alarms", "*", {"names": stale}))
    return steps


PER_SERVICE = re.compile(r"(?P<service>.+)(?:-p99-latency|-5xx-rate|-unhealthy)")


def _service_of(name: str, stack: str) -> str | None:
    found = PER_SERVICE.fullmatch(name.removeprefix(alarm_prefix(stack)))
    return found["service"] if found and SERVICE_RE.fullmatch(found["service"]) else None


def _owned(name: str, stack: str) -> bool:
    """An alarm name portico gives: a group alarm or a service's (a hand-made `<stack>-svc-x` is left alone)."""
    return name.startswith(alarm_prefix(stack) + "_") or _service_of(name, stack) is not None


def _latency(route: Route, settings: Settings, api_name: str) -> dict[str, Any]:
    return latency_request(route, stack=settings.stack, api_name=api_name, stage=watched_stage(settings),
                           topic=settings.alarm_topic_arn)


def _paced(sleep, calls: list) -> None:
    """Make the calls CALL_INTERVAL apart: PutMetricAlarm and DeleteAlarms allow 3 a second."""
    for i, call in enumerate(calls):
        if i:
            sleep(CALL_INTERVAL)
        call()


def put_alarms(step: Step, ctx: ApplyContext) -> None:
    product = ctx.observed.product
    api_name = product.api_name if product else ""
    p = step.params
    requests = [_api_alarm(ctx.settings, api_name)] if p["api"] else []
    requests += [_unhealthy(lb, ctx.settings) for lb in p["loadBalancers"]]
    cw = ctx.clients.cloudwatch
    _paced(ctx.sleep, [lambda r=r: cw.put_metric_alarm(**r) for r in requests])


def delete_alarms(step: Step, ctx: ApplyContext) -> None:
    names = step.params["names"]

    def delete(batch: list[str]) -> None:
        try:
            ctx.clients.cloudwatch.delete_alarms(AlarmNames=batch)
        except ClientError as exc:
            if not is_not_found(exc):
                raise

    _paced(ctx.sleep, [lambda i=i: delete(names[i:i + 100]) for i in range(0, len(names), 100)])  # 100 a call
    if step.service != "*":
        ledger = ctx.ledger(step.service)
        ledger.alarms = [n for n in ledger.alarms if n not in names]


def write_latency_alarms(plan: Plan, ready: set[str], clients: Clients, settings: Settings, *, sleep=time.sleep,
                         budget: int = LATENCY_PER_SWEEP) -> list[str]:
    """After a sweep: the p99 alarms of its READY services that lack theirs or hold an older definition, ≤ budget,
    3 a second. One DescribeAlarms (≤ 100 names: a shard is ≤ 50) and a GetRestApi; nothing to write, no write."""
    wanted = [Route.of(d) for s, d in sorted(plan.desired.items()) if s in ready]
    if not wanted or clients.cloudwatch is None:
        return []
    api_name = clients.apigateway.get_rest_api(restApiId=settings.rest_api_id).get("name", "")
    names = [latency_alarm_name(settings.stack, r.service) for r in wanted]
    have = {a["AlarmName"]: a for i in range(0, len(names), 100) for a in clients.cloudwatch.describe_alarms(
        AlarmNames=names[i:i + 100], AlarmTypes=["MetricAlarm"])["MetricAlarms"]}
    todo = [req for r in wanted if _stale(req := _latency(r, settings, api_name), have)][:budget]
    _paced(sleep, [lambda r=r: clients.cloudwatch.put_metric_alarm(**r) for r in todo])
    return [r["AlarmName"] for r in todo]


APPLY = {"put_alarms": put_alarms, "delete_alarms": delete_alarms}
