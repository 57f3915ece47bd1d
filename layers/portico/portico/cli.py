"""`portico`: onboard, inspect and reconcile services; run the embedded local AWS.

Settings come from the environment (names in `settings.py`); `.portico/local.env` in the current
folder is loaded when present, without overriding variables already exported.
"""

from __future__ import annotations

import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from dotenv import load_dotenv
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import local
from .clients import Clients
from .reconcile import ALL, Reconciler
from .registry import Registry
from .settings import Settings
from .spec import SpecError

LOCAL_DIR = Path(".portico")
LOCAL_ENV = LOCAL_DIR / "local.env"
LOCAL_PID = LOCAL_DIR / "moto.pid"

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
local_app = typer.Typer(no_args_is_help=True, help="The embedded local AWS (moto server on loopback).")
app.add_typer(local_app, name="local")
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def settings() -> Settings:
    if LOCAL_ENV.exists():
        load_dotenv(LOCAL_ENV, override=False)
    return Settings.from_env()


def reconciler() -> Reconciler:
    s = settings()
    try:
        return Reconciler(Clients.create(s), s)
    except ValueError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None


# -- local stack ---------------------------------------------------------------------------------------
@local_app.command("up")
def local_up(port: Annotated[int, typer.Option(help="loopback port for the emulator (default: a free one)")] = 0,
             load_balancers: Annotated[int, typer.Option(min=1, max=20, help="NLBs in the pool")] = 1) -> None:
    """Start the local AWS (if not running), bootstrap portico's infrastructure, write .portico/local.env."""
    pid, endpoint = _running()
    if pid is None:
        pid, endpoint = local.start_server(port or None, LOCAL_DIR)
        LOCAL_PID.write_text(f"{pid} {endpoint}\n")
        for name in (LOCAL_DIR / "stream.json",):
            name.unlink(missing_ok=True)
    s = local.bootstrap(endpoint, load_balancers=load_balancers)
    local.write_env(LOCAL_ENV, s)
    out.print(f"local AWS at [bold]{endpoint}[/] (pid {pid}); settings in {LOCAL_ENV}")
    out.print(f"REST API {s.rest_api_id}, stages {', '.join(s.stages)}, {len(s.load_balancer_arns)} NLB(s), "
              f"registry table {s.registry_table}; ECS cluster '{local.DEMO_CLUSTER}' with services "
              f"{', '.join(local.DEMO_SERVICES)}")


@local_app.command("down")
def local_down() -> None:
    """Stop the local AWS started from this folder and forget its state."""
    pid, endpoint = _running()
    if pid is None:
        out.print("no local AWS is running from this folder")
    else:
        local.stop_server(pid)
        out.print(f"stopped the local AWS at {endpoint}")
    for f in (LOCAL_PID, LOCAL_ENV, LOCAL_DIR / "stream.json"):
        f.unlink(missing_ok=True)


def _running() -> tuple[int | None, str]:
    if not LOCAL_PID.exists():
        return None, ""
    pid_text, _, endpoint = LOCAL_PID.read_text().strip().partition(" ")
    if local.alive(int(pid_text)):
        return int(pid_text), endpoint
    LOCAL_PID.unlink(missing_ok=True)
    return None, ""


@local_app.command("stream")
def local_stream(once: Annotated[bool, typer.Option("--once", help="deliver what is there, then stop")] = False,
                 interval: Annotated[float, typer.Option(help="seconds between polls")] = 1.0) -> None:
    """Deliver registry stream records to the stream handler, as Lambda's event source mapping would."""
    from .streampoll import StreamPoller
    from .triggers import stream

    rec = reconciler()
    c = rec.clients
    poller = StreamPoller(c.dynamodb, c.streams, rec.settings.registry_table, lambda e, ctx: stream.handle(e, ctx, rec),
                          checkpoint=LOCAL_DIR / "stream.json",
                          on_failure=lambda b: err.print(f"[red]{len(b)} record(s) sent to the on-failure queue[/]"))
    try:
        while True:
            n = poller.poll_once()
            if n:
                out.print(f"delivered {n} stream record(s) to the registry stream handler")
            if once:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return


# -- registry ------------------------------------------------------------------------------------------
@app.command()
def onboard(
    service: Annotated[str, typer.Argument(help="service id: ^[a-z][a-z0-9-]{1,27}$")],
    cluster: Annotated[str, typer.Option(help="ECS cluster name or ARN")],
    container_port: Annotated[int, typer.Option(help="port the container listens on")],
    path: Annotated[str, typer.Option(help="API path, e.g. /orders")],
    ecs_service: Annotated[str | None, typer.Option(help="ECS service name (default: SERVICE)")] = None,
    container_name: Annotated[str | None, typer.Option(help="container in the task definition")] = None,
    method: Annotated[list[str] | None, typer.Option("--method", help="HTTP method; repeat (default ANY)")] = None,
    auth: Annotated[str | None, typer.Option(help="NONE, API_KEY, IAM or COGNITO")] = None,
    health_check_path: Annotated[str | None, typer.Option(help="HTTP health check path (default: TCP)")] = None,
    throttle_rate: Annotated[float | None, typer.Option(help="stage throttle, requests/s")] = None,
    throttle_burst: Annotated[int | None, typer.Option(help="stage throttle burst")] = None,
    cache_ttl_seconds: Annotated[int | None, typer.Option(help="stage cache TTL for GET")] = None,
) -> None:
    """Validate a service entry against the contract and AWS, then write it to the registry."""
    item = {"service": service, "cluster": cluster, "ecsService": ecs_service, "containerName": container_name,
            "containerPort": container_port, "path": path, "methods": [m.upper() for m in method] if method else None,
            "auth": auth, "healthCheckPath": health_check_path,
            "throttleRate": Decimal(str(throttle_rate)) if throttle_rate is not None else None,  # DynamoDB N
            "throttleBurst": throttle_burst, "cacheTtlSeconds": cache_ttl_seconds}
    item = {k: v for k, v in item.items() if v is not None}
    rec = reconciler()
    try:
        rec.preflight(item)
    except SpecError as exc:
        err.print(f"[red]rejected:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    rec.registry.put_spec(item)
    out.print(f"wrote {service} to {rec.settings.registry_table}; status PENDING until the reconciler runs")


@app.command()
def offboard(service: str) -> None:
    """Delete the service's entry; portico then removes everything it created for it."""
    rec = reconciler()
    if rec.registry.get(service) is None:
        err.print(f"[red]error:[/] no entry for {service!r} in {rec.settings.registry_table}")
        raise typer.Exit(1)
    rec.registry.delete(service)
    out.print(f"deleted {service}; the reconciler removes its routes")


@app.command("ls")
def list_services(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The route table: service, path, NLB port, target group, ECS service, status, invoke URL."""
    rec = reconciler()
    rows = []
    for name, item in sorted(Registry(rec.clients.dynamodb, rec.settings.registry_table).scan().items()):
        tg = str(item.get("targetGroupArn") or "")
        rows.append({"service": name, "path": item.get("path"), "port": _int(item.get("listenerPort")),
                     "targetGroup": tg.split("/")[1] if tg.count("/") >= 2 else None,
                     "ecsService": f"{str(item.get('cluster', '')).rsplit('/', 1)[-1]}/{item.get('ecsService', name)}",
                     "status": item.get("status", "PENDING"), "message": item.get("statusMessage"),
                     "invokeUrl": item.get("invokeUrl")})
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"portico routes — {rec.settings.rest_api_id} / {rec.settings.stage}")
    for col in ("service", "path", "NLB port", "target group", "ECS service", "status", "invoke URL"):
        table.add_column(col, overflow="fold")
    colour = {"READY": "green", "FAILED": "red"}
    for r in rows:
        status = f"[{colour.get(r['status'], 'yellow')}]{r['status']}[/]"
        if r["status"] != "READY" and r["message"]:
            status += f"\n{escape(r['message'])}"
        table.add_row(r["service"], str(r["path"] or ""), str(r["port"] or "—"), r["targetGroup"] or "—",
                      r["ecsService"], status, r["invokeUrl"] or "—")
    out.print(table)


def _int(v) -> int | None:
    return int(v) if v is not None else None


@app.command()
def plan(as_json: Annotated[bool, typer.Option("--json")] = False,
         service: Annotated[list[str] | None, typer.Option("--service", help="only these services")] = None) -> None:
    """What a reconcile would change now (read-only). `--json` prints {"steps": [...], "failed": [...]}."""
    result = reconciler().run(service or ALL, dry_run=True).plan
    if as_json:
        print(result.dumps())
        return
    if not result.steps:
        out.print("[green]no changes:[/] AWS matches the registry")
    for step in result.steps:
        out.print(str(step), markup=False, highlight=False)
    for name, reason in sorted(result.failed.items()):
        out.print(f"[red]cannot serve {name}:[/] {escape(reason)}")


@app.command("reconcile")
def reconcile_cmd(service: Annotated[list[str] | None, typer.Option("--service", help="only these")] = None) -> None:
    """Converge AWS with the registry now (all services, or the ones named) and write statuses."""
    outcome = reconciler().run(service or ALL)
    summary = outcome.summary()
    out.print(f"{summary['steps']} step(s); statuses {summary['statuses']}; removed {summary['removed'] or 'none'}; "
              f"deployment {summary['deployment'] or 'none'}")
    for e in outcome.errors:
        err.print(f"[yellow]warning:[/] {escape(e)}")
    if any(st.status == "FAILED" for st in outcome.statuses.values()):
        raise typer.Exit(1)


def main() -> None:
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "portico")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the CLI prints its own summary
    try:
        app()
    except BrokenPipeError:
        sys.exit(0)


from . import cli_product  # noqa: E402,F401 - registers the API product commands on `app`
