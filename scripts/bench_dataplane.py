"""`make bench` (second part): throughput and added latency of the local API Gateway.

The local stack as `portico local up` runs it (the emulator and the data plane, each its own process, on
127.0.0.1), one routed service per auth kind, the shortest health checks AWS allows; then, from this process,
PORTICO_BENCH_REQUESTS requests (default 2000) per row with httpx over keep-alive connections:
- straight to the task's loopback port (the baseline: the stand-in alone);
- through the gateway → VPC link → NLB listener → task, for a NONE and an API_KEY route;
each sequentially (one client) and with 8 concurrent clients. Added latency = the row's percentile minus the
baseline's at the same concurrency. The table goes into README.md between `<!-- dataplane-bench:start -->`
and `<!-- dataplane-bench:end -->`. Bounded: a fixed count per row, every process stopped at the end.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from portico.reconcile import ALL, Reconciler
from portico.registry import Registry
from portico_cli.local_aws import account as local
from portico_cli.local_aws import stack as local_stack
from portico_cli.local_aws.dataplane import process
from portico_cli.local_aws.demo import create_in_local_network
from portico_cli.local_aws.server import start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = int(os.environ.get("PORTICO_BENCH_REQUESTS", "2000"))
CONCURRENCY = (1, 8)
START, END = "<!-- dataplane-bench:start -->", "<!-- dataplane-bench:end -->"


async def run(url: str, headers: dict[str, str], concurrency: int) -> tuple[float, list[float], int]:
    """(requests/s, latencies in ms, non-200 answers) for REQUESTS requests over `concurrency` clients."""
    latencies: list[float] = []
    bad = 0
    per_client = REQUESTS // concurrency

    async def client() -> None:
        nonlocal bad
        async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
            for _ in range(per_client):
                t0 = time.perf_counter()
                resp = await http.get(url, headers=headers)
                latencies.append((time.perf_counter() - t0) * 1000)
                bad += resp.status_code != 200

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return len(latencies) / (time.perf_counter() - started), latencies, bad


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def stack(folder: Path) -> tuple[int, dict, dict[str, str], str]:
    """The local stack as `portico local up` makes it (template.yaml deployed), the demo's ECS services beside
    it, two routed services and an API key on the premium tier: (emulator pid, data plane, key header, endpoint)."""
    pid, endpoint = start_server(None, folder)
    os.environ.update(local.CREDENTIALS, AWS_DEFAULT_REGION=local.REGION)
    settings = local_stack.deploy(endpoint, cache=folder / "templates")
    from portico.clients import Clients

    clients = Clients.create(settings, boto3_session=local.session(endpoint))
    create_in_local_network(endpoint)
    registry = Registry(clients.dynamodb, settings.registry_table)
    for item in ({"service": "orders", "path": "/orders", "auth": "NONE"},
                 {"service": "users", "path": "/users", "auth": "API_KEY"}):
        registry.put_spec({**item, "cluster": "demo", "containerPort": 8080})
    outcome = Reconciler(clients, settings, sleep=lambda s: None).run(ALL)
    for status in outcome.statuses.values():
        clients.elbv2.modify_target_group(TargetGroupArn=status.target_group_arn, HealthCheckIntervalSeconds=5,
                                          HealthyThresholdCount=2)
    apigw = clients.apigateway
    key = apigw.create_api_key(name="bench", enabled=True)
    cfn = local.session(endpoint).client("cloudformation", endpoint_url=endpoint)
    outputs = cfn.describe_stacks(StackName=local_stack.STACK)["Stacks"][0]["Outputs"]
    plan = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "PremiumUsagePlanId")
    apigw.create_usage_plan_key(usagePlanId=plan, keyId=key["id"], keyType="API_KEY")
    plane = process.start(endpoint, settings.rest_api_id, folder)
    return pid, plane, {"x-api-key": key["value"]}, endpoint


def task_port(folder: Path) -> int:
    """The orders task's loopback port, as the data plane reports it."""
    return process.running(folder)["tasks"]["demo/orders"][0]["hostPort"]


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="portico-bench-"))
    pid, plane, key_header, _ = stack(folder)
    rows = []
    try:
        base = f"{plane['url']}/dev"
        with httpx.Client(trust_env=False, timeout=10) as http:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and (http.get(f"{base}/orders").status_code != 200 or
                                                   http.get(f"{base}/users", headers=key_header).status_code != 200):
                time.sleep(0.25)
        direct = f"http://127.0.0.1:{task_port(folder)}/items/42?x=1"
        cases = [("task directly (baseline)", direct, {}), ("gateway, auth NONE", f"{base}/orders/items/42?x=1", {}),
                 ("gateway, auth API_KEY", f"{base}/users/items/42?x=1", key_header)]
        for concurrency in CONCURRENCY:
            baseline = None
            for label, url, headers in cases:
                rps, lat, bad = asyncio.run(run(url, headers, concurrency))
                p50, p99 = pct(lat, 50), pct(lat, 99)
                baseline = baseline or (p50, p99)
                rows.append((label, concurrency, len(lat), bad, rps, p50, p99, p50 - baseline[0], p99 - baseline[1]))
                print(f"{label} x{concurrency}: {rps:.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms", file=sys.stderr)
    finally:
        process.stop(folder)
        stop_server(pid)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    text = "\n".join([f"Load average of the machine when measured: {load} ({os.cpu_count()} cores).", "",
                      "| path | clients | requests | non-200 | requests/s | p50 | p99 | added p50 | added p99 |",
                      "|---|---|---|---|---|---|---|---|---|"] +
                     [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.0f} | {r[5]:.2f} ms | {r[6]:.2f} ms | "
                      + ("— | — |" if r[0].startswith("task") else f"{r[7]:.2f} ms | {r[8]:.2f} ms |") for r in rows])
    print(text)
    readme = ROOT / "README.md"
    body = readme.read_text()
    if START in body and END in body:
        before, rest = body.split(START, 1)
        readme.write_text(f"{before}{START}\n{text}\n{END}{rest.split(END, 1)[1]}")
        print(f"\nwritten to {readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
