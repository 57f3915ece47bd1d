"""The gateway's CloudWatch metrics, published as API Gateway does (namespace AWS/ApiGateway).

Count, 4XXError, 5XXError, Latency and IntegrationLatency per (ApiName, Stage) for every request, and per
(ApiName, Stage, Resource, Method) for methods with detailed metrics on (`metricsEnabled`)
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-metrics-and-dimensions.html).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from .gateway import Sample

VALUES_PER_DATUM = 150  # PutMetricData: at most 150 values in one datum
DATA_PER_CALL = 1000


def metric_data(api_name: str, samples: list[Sample], now: datetime | None = None) -> list[dict]:
    groups: dict[tuple, list[Sample]] = defaultdict(list)
    for s in samples:
        groups[(("ApiName", api_name), ("Stage", s.stage))].append(s)
        if s.detailed and s.resource:
            dims = (("ApiName", api_name), ("Stage", s.stage), ("Resource", s.resource), ("Method", s.method))
            groups[dims].append(s)
    at = now or datetime.now(UTC)
    data: list[dict] = []
    for dims, group in groups.items():
        dimensions = [{"Name": n, "Value": v} for n, v in dims]
        base = {"Dimensions": dimensions, "Timestamp": at}
        data.append({**base, "MetricName": "Count", "Value": float(len(group)), "Unit": "Count"})
        for name, lo in (("4XXError", 400), ("5XXError", 500)):
            data.append({**base, "MetricName": name, "Unit": "Count",
                         "Value": float(sum(1 for s in group if lo <= s.status < lo + 100))})
        for name, values in (("Latency", [s.latency_ms for s in group]),
                             ("IntegrationLatency", [s.integration_ms for s in group if s.integration_ms is not None])):
            for i in range(0, len(values), VALUES_PER_DATUM):
                data.append({**base, "MetricName": name, "Unit": "Milliseconds",
                             "Values": values[i:i + VALUES_PER_DATUM]})
    return data


def publish(cloudwatch, api_name: str, samples: list[Sample]) -> int:
    data = metric_data(api_name, samples)
    for i in range(0, len(data), DATA_PER_CALL):
        cloudwatch.put_metric_data(Namespace="AWS/ApiGateway", MetricData=data[i:i + DATA_PER_CALL])
    return len(data)
