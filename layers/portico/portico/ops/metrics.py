"""`portico metrics SERVICE`: calls, p50/p99 latency, 4XX/5XX errors of the last hour, from CloudWatch.

One GetMetricData call over the service's per-method ApiGateway metrics (detailed metrics are on for
every routed method). Percentiles of several methods cannot be merged exactly: p50 is the call-weighted
mean of the methods' p50, p99 the worst method's p99.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..steps import Route

WINDOW = timedelta(hours=1)
PERIOD = 3600


@dataclass
class Figures:
    calls: float = 0.0
    errors_4xx: float = 0.0
    errors_5xx: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None

    @property
    def error_rate(self) -> float | None:
        return (self.errors_5xx / self.calls * 100) if self.calls else None


def queries(route: Route, api_name: str, stage: str) -> list[dict]:
    out = []
    for i, (resource, method) in enumerate(route.method_pairs()):
        dims = [{"Name": "ApiName", "Value": api_name}, {"Name": "Stage", "Value": stage},
                {"Name": "Resource", "Value": resource}, {"Name": "Method", "Value": method}]
        for prefix, metric, stat in (("c", "Count", "Sum"), ("f", "4XXError", "Sum"), ("e", "5XXError", "Sum"),
                                     ("m", "Latency", "p50"), ("p", "Latency", "p99")):
            out.append({"Id": f"{prefix}{i}", "ReturnData": True, "MetricStat": {
                "Metric": {"Namespace": "AWS/ApiGateway", "MetricName": metric, "Dimensions": dims},
                "Period": PERIOD, "Stat": stat}})
    return out


def fetch(cloudwatch, route: Route, api_name: str, stage: str, *, now: datetime | None = None) -> Figures:
    end = (now or datetime.now(UTC)).replace(microsecond=0)
    start = end - WINDOW
    values: dict[str, float] = {}
    qs = queries(route, api_name, stage)
    for i in range(0, len(qs), 500):  # GetMetricData takes 500 queries per call
        for page in cloudwatch.get_paginator("get_metric_data").paginate(
                MetricDataQueries=qs[i:i + 500], StartTime=start, EndTime=end):
            for r in page.get("MetricDataResults", []):
                got = [v for v in r.get("Values", []) if v is not None]
                if got:
                    values[r["Id"]] = values.get(r["Id"], 0.0) + sum(got) if r["Id"][0] in "cfe" else max(got)
    f = Figures()
    n = len(route.method_pairs())
    weighted, weight = 0.0, 0.0
    for i in range(n):
        calls = values.get(f"c{i}", 0.0)
        f.calls += calls
        f.errors_4xx += values.get(f"f{i}", 0.0)
        f.errors_5xx += values.get(f"e{i}", 0.0)
        if f"m{i}" in values:
            weighted += values[f"m{i}"] * max(calls, 1.0)
            weight += max(calls, 1.0)
        if f"p{i}" in values:
            f.p99_ms = max(f.p99_ms or 0.0, values[f"p{i}"])
    f.p50_ms = weighted / weight if weight else None
    return f
