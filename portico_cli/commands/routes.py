"""Registry commands: onboard, offboard, ls, plan, reconcile."""

from __future__ import annotations

import math
import time
from decimal import Decimal
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from portico.desired import invoke_url
from portico.reconcile import ALL
from portico.registry import FAILED, READY
from portico.spec import HEALTH_CHECK_ATTRIBUTES, SpecError, health_check
from portico.status import REGISTERING

from ..context import out, reconciler
from ..errors import Code, refused
from ..output import Json, emit, progress, warn

app = typer.Typer()

# The registry attribute each onboard option writes: a refusal names the attribute, the fix names the option.
OPTIONS = {"service": "SERVICE", "cluster": "--cluster", "ecsService": "--ecs-service",
           "containerName": "--container-name", "containerPort": "--container-port", "path": "--path",
           "methods": "--method", "auth": "--auth", "healthCheckPath": "--health-check-path",
           "throttleRate": "--throttle-rate", "throttleBurst": "--throttle-burst",
           "cacheTtlSeconds": "--cache-ttl-seconds", "listenerPort": "the pool (PORTICO_PORT_RANGE, load balancers)",
           **{a: "--" + "".join(f"-{c.lower()}" if c.isupper() else c for c in a) for a in HEALTH_CHECK_ATTRIBUTES}}


@app.command()
def onboard(
    service: Annotated[str, typer.Argument(metavar="SERVICE", help="Service id: ^[a-z][a-z0-9-]{1,27}$.")],
    cluster: Annotated[str, typer.Option(help="ECS cluster name or ARN.")],
    container_port: Annotated[int, typer.Option(help="Port the container listens on, 1-65535.")],
    path: Annotated[str, typer.Option(help="API path: /seg[/seg...], 1-8 segments of [a-z0-9._-]{1,64}.")],
    ecs_service: Annotated[str | None, typer.Option(help="ECS service name (default: SERVICE).")] = None,
    container_name: Annotated[str | None, typer.Option(
        help="Container in the task definition (default: the one mapping --container-port).")] = None,
    method: Annotated[list[str] | None, typer.Option(
        "--method", metavar="METHOD",
        help="HTTP method, repeatable: GET POST PUT PATCH DELETE HEAD OPTIONS, or ANY alone (default: ANY).")] = None,
    auth: Annotated[str | None, typer.Option(
        help="NONE, API_KEY, IAM or COGNITO (default: PORTICO_DEFAULT_AUTH).")] = None,
    health_check_path: Annotated[str | None, typer.Option(
        help="HTTP health check path (default: a TCP check).")] = None,
    throttle_rate: Annotated[float | None, typer.Option(help="Stage throttle, requests per second.")] = None,
    throttle_burst: Annotated[int | None, typer.Option(help="Stage throttle burst.")] = None,
    cache_ttl_seconds: Annotated[int | None, typer.Option(help="Stage cache TTL of GET methods, 0-3600.")] = None,
    health_check_interval_seconds: Annotated[int | None, typer.Option(
        help="Seconds between health checks, 5-300 (default: 5).")] = None,
    health_check_timeout_seconds: Annotated[int | None, typer.Option(
        help="Seconds a health check waits, 2-120 and less than the interval (default: 4).")] = None,
    healthy_threshold_count: Annotated[int | None, typer.Option(
        help="Checks in a row that make a target healthy, 2-10 (default: 2).")] = None,
    unhealthy_threshold_count: Annotated[int | None, typer.Option(
        help="Failures in a row that make a target unhealthy, 2-10 (default: 2).")] = None,
    as_json: Json = False,
) -> None:
    """Check a service entry against the registry contract and AWS, then write it to the registry.

    Refused entries (exit 4) are not written; the message names the attribute and the rule.
    """
    item = {"service": service, "cluster": cluster, "ecsService": ecs_service, "containerName": container_name,
            "containerPort": container_port, "path": path, "methods": [m.upper() for m in method] if method else None,
            "auth": auth, "healthCheckPath": health_check_path,
            "throttleRate": Decimal(str(throttle_rate)) if throttle_rate is not None else None,  # DynamoDB N
            "throttleBurst": throttle_burst, "cacheTtlSeconds": cache_ttl_seconds,
            "healthCheckIntervalSeconds": health_check_interval_seconds,
            "healthCheckTimeoutSeconds": health_check_timeout_seconds,
            "healthyThresholdCount": healthy_threshold_count, "unhealthyThresholdCount": unhealthy_threshold_count}
    item = {k: v for k, v in item.items() if v is not None}
    rec = reconciler()
    try:
        rec.preflight(item)
    except SpecError as exc:
        raise refused(str(exc), f"change {OPTIONS.get(exc.field, exc.field)} and run `portico onboard` again; "
                                "nothing was written") from None
    rec.registry.put_spec(item)
    table = rec.settings.registry_table
    emit({"service": service, "table": table, "status": "PENDING", "entry": item},
         lambda: out.print(f"wrote {service} to {table}; status PENDING until the reconciler runs"))


@app.command()
def offboard(service: Annotated[str, typer.Argument(metavar="SERVICE", help="The service to remove.")],
             as_json: Json = False) -> None:
    """Delete the service's entry; portico then removes everything it created for it."""
    rec = reconciler()
    table = rec.settings.registry_table
    if rec.registry.get(service) is None:
        raise refused(f"SERVICE: no entry for {service!r} in {table}", "`portico ls` lists the services")
    rec.registry.delete(service)
    emit({"service": service, "table": table, "deleted": True},
         lambda: out.print(f"deleted {service}; the reconciler removes its routes"))


@app.command("ls")
def list_services(stage: Annotated[str | None, typer.Option(
        help="Show each route's URL on this stage (its custom domain when it has one); default: the entry's "
             "invokeUrl, on the stage reconciles deploy to.")] = None,
                  health: Annotated[bool, typer.Option(
        "--health", help="Read each READY route's target health (one DescribeTargetHealth per route).")] = False,
                  as_json: Json = False) -> None:
    """The route table: service, path, NLB port, target group, ECS service, status, invoke URL. A route routed
    moments ago says its targets are registering and when the first health check passes (computed from its
    health check, no read); --health reads the targets' health instead."""
    rec = reconciler()
    s = rec.settings
    if stage is not None and stage not in s.stages:
        raise refused(f"--stage: {stage!r} is not a stage of this API (PORTICO_STAGES={','.join(s.stages)})",
                      f"one of {', '.join(s.stages)}")
    rows, now = [], time.time()
    for name, item in sorted(rec.registry.scan().items()):
        tg = str(item.get("targetGroupArn") or "")
        rows.append({"service": name, "path": item.get("path"), "port": _int(item.get("listenerPort")),
                     "targetGroup": tg.split("/")[1] if tg.count("/") >= 2 else None,
                     "ecsService": f"{str(item.get('cluster', '')).rsplit('/', 1)[-1]}/{item.get('ecsService', name)}",
                     "status": item.get("status", "PENDING"), "message": item.get("statusMessage"),
                     "health": _targets(rec.clients.elbv2, tg) if health and item.get("status") == READY and tg
                     else _registering(item, now),
                     "invokeUrl": item.get("invokeUrl") if stage is None or not item.get("invokeUrl") else
                     invoke_url(s.rest_api_id, rec.clients.region, stage, str(item.get("path")), s.domain(stage))})

    def human() -> None:
        table = Table(title=f"portico routes — {s.rest_api_id} / {stage or s.stage}")
        for col in ("service", "path", "NLB port", "target group", "ECS service", "status", "invoke URL"):
            table.add_column(col, overflow="fold")
        for r in rows:
            status = _status(r["status"])
            if r["status"] != READY and r["message"]:
                status += f"\n{escape(r['message'])}"
            elif r["health"]:
                status += f"\n{escape(r['health'])}"
            table.add_row(r["service"], str(r["path"] or ""), str(r["port"] or "—"), r["targetGroup"] or "—",
                          r["ecsService"], status, r["invokeUrl"] or "—")
        out.print(table)

    emit(rows, human)


def _registering(item: dict, now: float) -> str | None:
    """While the pass that routed the entry said its targets are registering and their first health check
    cannot have passed yet: how long until it can."""
    if item.get("status") != READY or REGISTERING not in str(item.get("statusMessage") or ""):
        return None
    try:
        left = health_check(item).first_healthy_seconds - (now - float(item.get("reconciledAt") or 0))
    except SpecError:
        return None
    return f"registering: first health check passes in ~{math.ceil(left)} s" if left > 0 else None


def _targets(elbv2, arn: str) -> str:
    states = [d["TargetHealth"]["State"] for d in
              elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]]
    counts = {state: states.count(state) for state in dict.fromkeys(states)}
    return (f"targets: {', '.join(f'{n} {state}' for state, n in counts.items())}" if states
            else "targets: none registered")


def _int(v) -> int | None:
    return int(v) if v is not None else None


def _status(status: str) -> str:
    return f"[{ {READY: 'green', FAILED: 'red'}.get(status, 'yellow') }]{status}[/]"


Services = Annotated[list[str] | None, typer.Option("--service", metavar="SERVICE",
                                                    help="Only this service; repeatable (default: all).")]


def known(r, services: list[str] | None) -> list[str] | None:
    """The services named with --service, once each is known: it has a registry entry, or a ledger (it is being
    offboarded). An unknown one is refused (exit 4) before anything is read or changed for the others."""
    if not services:
        return services
    entries = r.registry.get_many(services)
    unknown = [s for s in dict.fromkeys(services) if s not in entries and not r.state.has_ledger(s)]
    if unknown:
        raise refused(f"unknown service {', '.join(repr(s) for s in unknown)}: no registry entry and nothing of "
                      "it to offboard", "check the name with `portico ls`")
    return services


@app.command()
def plan(service: Services = None, as_json: Json = False) -> None:
    """What a reconcile would change now (read-only). An unknown --service exits 4."""
    r = reconciler()
    result = r.run(known(r, service) or ALL, dry_run=True).plan

    def human() -> None:
        if not result.steps:
            out.print("[green]no changes:[/] AWS matches the registry")
        for step in result.steps:
            out.print(str(step), markup=False, highlight=False)
        for name, reason in sorted(result.failed.items()):
            out.print(f"[red]cannot serve {name}:[/] {escape(reason)}")

    emit(result.to_json(), human)


@app.command("migrate-link")
def migrate_link_cmd(to: Annotated[str, typer.Option("--to", help="v2 (one VPC link v2 for the pool) or v1.")],
                     dry_run: Annotated[bool, typer.Option("--plan", help="Only show the steps.")] = False,
                     as_json: Json = False) -> None:
    """Move every integration of the stack to the other VPC links, in one pass with one deployment.

    The choice is recorded first: a migration cut short is finished by the next reconcile or sweep, and
    running it again changes nothing. The stack needs both kinds of link (VpcLinkVersion v1+v2).
    """
    from portico.ops.links import migrate_link, next_steps, stages_behind

    r = reconciler()
    try:
        outcome = migrate_link(r, to, dry_run=dry_run)
    except ValueError as exc:
        raise refused(str(exc)) from None
    moved = [st for st in outcome.plan.steps if st.action == "put_integration"]
    summary = outcome.summary() if not dry_run else {"steps": len(outcome.plan.steps)}
    behind = stages_behind(r, to)
    then = next_steps(r.settings, behind, to)

    def human() -> None:
        verb = "would move" if dry_run else "moved"
        out.print(f"{verb} {len(moved)} integration(s) to the VPC link(s) {to}; "
                  f"deployment {summary.get('deployment') or 'none'}")
        if dry_run:
            for step in outcome.plan.steps:
                out.print(str(step), markup=False, highlight=False)
        for stage, deployment in behind.items():
            out.print(f"stage {stage} still serves deployment {deployment}, which uses the other VPC link(s)",
                      highlight=False)
        out.print("then, in order:", highlight=False)
        for step in then:
            out.print(f"  {step}", markup=False, highlight=False)

    emit({"to": to, "integrations": len(moved), **summary, "stagesBehind": behind, "nextSteps": then}, human)
    if not dry_run and outcome.errors:
        for e in outcome.errors:
            warn(e)
        raise typer.Exit(Code.FAILED)


@app.command("reconcile")
def reconcile_cmd(service: Services = None, as_json: Json = False) -> None:
    """Converge AWS with the registry now (all services, or the ones named) and write statuses.

    Exits 1 when an entry ends FAILED or must be retried (held by another pass: `retry`), or a shared step
    failed; 4 for an unknown --service.
    """
    with progress("reconciling") as advance:
        r = reconciler(on_step=advance)
        outcome = r.run(known(r, service) or ALL)
    summary = outcome.summary()
    services = [{"service": name, "status": st.status, "message": st.message, "listenerPort": st.listener_port,
                 "invokeUrl": st.invoke_url} for name, st in sorted(outcome.statuses.items())]

    def human() -> None:
        counts = ", ".join(f"{n} {_status(s)}" for s, n in sorted(summary["statuses"].items())) or "no entries"
        out.print(f"reconciled {len(services)} service(s): {counts}; {summary['steps']} step(s); "
                  f"deployment {summary['deployment'] or 'none'}; removed {', '.join(summary['removed']) or 'none'}")
        trouble = [s for s in services if s["status"] != READY]
        if trouble:
            table = Table("service", "status", "message")
            for s in trouble:
                table.add_row(s["service"], _status(s["status"]), escape(s["message"]))
            out.print(table)

    emit({**summary, "services": services}, human)
    for e in outcome.errors:
        warn(e)
    if outcome.errors or any(s["status"] != READY for s in services):
        raise typer.Exit(Code.FAILED)

