"""`portico metrics SERVICE`: the last hour from CloudWatch GetMetricData."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from botocore.stub import ANY, Stubber

from portico.ops.metrics import fetch, queries
from portico.reconcile import ALL
from portico.registry import Registry
from portico.steps import Route
from tests.conftest import spec_item


def put(clients, name, resource, method, values, unit="Count"):
    """Data points as API Gateway publishes them, under the API's name (the template's `portico-<stack>`)."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    api = clients.apigateway.get_rest_apis()["items"][0]["name"]
    clients.cloudwatch.put_metric_data(Namespace="AWS/ApiGateway", MetricData=[{
        "MetricName": name, "Timestamp": now, "Value": v, "Unit": unit, "Dimensions": [
            {"Name": "ApiName", "Value": api}, {"Name": "Stage", "Value": "prod"},
            {"Name": "Resource", "Value": resource}, {"Name": "Method", "Value": method}]} for v in values])


def test_metrics_sums_calls_and_errors_of_the_service_methods(clients, stack, reconciler, cli):
    Registry(clients.dynamodb, stack.registry_table).put_spec(spec_item("orders", methods=["GET", "POST"]))
    reconciler.run(ALL)
    put(clients, "Count", "/orders", "GET", [10, 5])
    put(clients, "Count", "/orders/{proxy+}", "POST", [7])
    put(clients, "5XXError", "/orders/{proxy+}", "POST", [2])
    put(clients, "4XXError", "/orders", "GET", [3])
    put(clients, "Count", "/users", "GET", [1000])  # another service: not counted

    code, out, err = cli("metrics", "orders", "--json")
    assert code == 0, err
    got = json.loads(out)
    assert (got["calls"], got["errors4xx"], got["errors5xx"]) == (22.0, 3.0, 2.0)
    assert round(got["errorRatePercent"], 2) == 9.09
    code, out, _ = cli("metrics", "orders")
    assert code == 0 and "orders on prod" in out and "22 calls" in out and "5XX 2 (9.09%)" in out
    code, out, _ = cli("metrics", "orders", "--stage", "dev")
    assert code == 0 and "0 calls" in out


def test_metrics_merges_percentiles_across_methods():
    # Stubber: moto's GetMetricData computes no percentiles (p50/p99 come back empty) — this checks the merge.
    route = Route("orders", "/orders", ("GET",), None, None)
    results = [{"Id": q["Id"], "Label": q["Id"], "StatusCode": "Complete", "Timestamps": [], "Values": []}
               for q in queries(route, "portico", "dev")]
    values = {"c0": [90.0], "c1": [10.0], "m0": [20.0], "m1": [120.0], "p0": [300.0], "p1": [900.0]}
    for r in results:
        r["Values"] = values.get(r["Id"], [])
    import boto3

    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(cloudwatch) as stub:
        stub.add_response("get_metric_data", {"MetricDataResults": results},
                          {"MetricDataQueries": queries(route, "portico", "dev"), "StartTime": ANY, "EndTime": ANY})
        f = fetch(cloudwatch, route, "portico", "dev")
    assert f.calls == 100.0 and f.p99_ms == 900.0
    assert f.p50_ms == (20.0 * 90 + 120.0 * 10) / 100


def test_metrics_of_an_unknown_service_is_a_clear_error(cli):
    code, _, err = cli("metrics", "nope")
    assert code == 4 and "SERVICE: 'nope' is not routed by portico" in " ".join(err.split())
