"""Registry commands: onboard, offboard, ls, plan, reconcile."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from portico.reconcile import ALL
from portico.registry import Registry
from portico.spec import SpecError

from ..context import err, out, reconciler

app = typer.Typer()


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
