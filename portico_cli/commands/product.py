"""API product commands of `portico`: keys, promote/rollback/history, sdk, openapi, metrics, doctor, graph."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from botocore.exceptions import ClientError
from rich.markup import escape
from rich.table import Table

from portico.ops import check_stage
from portico.ops import keys as keys_mod
from portico.ops.stages import Stages

from ..context import err, out, reconciler
from ..errors import Code, refused
from ..output import Json, emit, warn

app = typer.Typer()

keys_app = typer.Typer(no_args_is_help=True, help="API keys for third parties, in usage-plan tiers.")
app.add_typer(keys_app, name="keys")

Stage = Annotated[str, typer.Option("--stage", help="Stage name, e.g. dev, qa or prod.")]


# -- keys ------------------------------------------------------------------------------------------------
@keys_app.command("create")
def keys_create(partner: Annotated[str, typer.Argument(metavar="PARTNER",
                                                       help="Partner id: [A-Za-z0-9][A-Za-z0-9._-]{0,63}.")],
                plan: Annotated[str, typer.Option("--plan", help="Usage-plan tier, e.g. basic or premium.")],
                as_json: Json = False) -> None:
    """Create PARTNER's API key in a tier. The key value is printed once, here, and nowhere else."""
    rec = reconciler()
    key, value = keys_mod.create(rec.clients.apigateway, rec.settings.rest_api_id, rec.settings.stack, partner, plan)

    def human() -> None:
        out.print(f"created key {key.key_id} for {partner} in tier {plan}")
        out.print("API key (shown once; send it as the x-api-key header):", highlight=False)
        print(value, flush=True)

    emit({"partner": partner, "keyId": key.key_id, "tier": plan, "value": value}, human)


@keys_app.command("ls")
def keys_ls(as_json: Json = False) -> None:
    """Partners, their key ids, tiers and whether the key is enabled (never the values)."""
    rec = reconciler()
    s = rec.settings
    rows = keys_mod.list_keys(rec.clients.apigateway, s.rest_api_id, s.stack)
    tiers = keys_mod.tiers(rec.clients.apigateway, s.rest_api_id, s.stack)

    def human() -> None:
        table = Table(title=f"API keys — {s.stack}")
        for col in ("partner", "key id", "tier", "limits", "enabled", "created"):
            table.add_column(col)
        for r in rows:
            t = tiers.get(r.tier or "")
            limits = f"{t.rate:g}/s, burst {t.burst}, {t.quota}" if t and t.rate is not None else "—"
            table.add_row(r.partner, r.key_id, r.tier or "[red]none[/]", limits, "yes" if r.enabled else "no",
                          r.created)
        out.print(table)
        if not rows:
            out.print(f"no keys yet; tiers: {', '.join(sorted(tiers)) or 'none'}")

    emit([{"partner": r.partner, "keyId": r.key_id, "tier": r.tier, "enabled": r.enabled, "created": r.created}
          for r in rows], human)


@keys_app.command("revoke")
def keys_revoke(partner: Annotated[str, typer.Argument(metavar="PARTNER", help="The partner whose key goes.")],
                as_json: Json = False) -> None:
    """Remove PARTNER's key from its tier and delete it."""
    rec = reconciler()
    key = keys_mod.revoke(rec.clients.apigateway, rec.settings.rest_api_id, rec.settings.stack, partner)
    emit({"partner": partner, "keyId": key.key_id, "tier": key.tier},
         lambda: out.print(f"revoked {partner}'s key {key.key_id} (tier {key.tier or 'none'})"))


# -- stages ----------------------------------------------------------------------------------------------
def _stages() -> Stages:
    rec = reconciler()
    return Stages(rec.clients.apigateway, rec.clients.dynamodb, rec.settings)


@app.command()
def promote(source: Annotated[str, typer.Option("--from", help="Stage to promote from, e.g. dev.")],
            target: Annotated[str, typer.Option("--to", help="Stage to point at its deployment, e.g. qa.")],
            as_json: Json = False) -> None:
    """Point stage --to at the deployment stage --from serves (no new deployment)."""
    event, brought = _stages().promote(source, target)

    def human() -> None:
        if event is None:
            out.print(f"{target} already serves {source}'s deployment; nothing to promote")
            return
        out.print(f"{target} → deployment {event.deployment_id} (from {source})")
        for d in brought:
            out.print(f"  + {d['id']}  {escape(d.get('description') or '')}", highlight=False)

    emit({"from": source, "to": target, "promoted": event is not None,
          "deploymentId": event.deployment_id if event else None,
          "brought": [{"id": d["id"], "description": d.get("description") or ""} for d in brought]}, human)


@app.command()
def rollback(stage: Annotated[str, typer.Option("--stage", help="Stage to return to its previous deployment.")],
             as_json: Json = False) -> None:
    """Return a stage to the deployment it served before its current one."""
    event = _stages().rollback(stage)
    emit({"stage": stage, "deploymentId": event.deployment_id, "description": event.description},
         lambda: out.print(f"{stage}: {event.description}"))


@app.command()
def prune(as_json: Json = False) -> None:
    """Delete the deployments no stage can return to (promote and rollback run it too)."""
    deleted = _stages().prune()
    emit({"deleted": deleted},
         lambda: out.print(f"deleted {len(deleted)} deployment(s) no stage can return to"
                           + (": " + ", ".join(deleted) if deleted else "")))


@app.command()
def history(stage: Stage, as_json: Json = False) -> None:
    """The deployments a stage has pointed to, oldest first; the current one is marked."""
    from portico.ops.stages import pointer_stack

    events = _stages().history(stage)
    stack = pointer_stack(events)
    current = max((i for i, e in enumerate(events) if stack and e.deployment_id == stack[-1]), default=-1)

    def human() -> None:
        table = Table(title=f"history of {stage}")
        for col in ("when (UTC)", "action", "deployment", "description"):
            table.add_column(col, overflow="fold")
        for i, e in enumerate(events):
            when = datetime.fromtimestamp(e.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
            table.add_row(when, e.action + (f" from {e.source}" if e.source else ""),
                          e.deployment_id + (" [green](current)[/]" if i == current else ""), escape(e.description))
        out.print(table)

    emit([{**asdict(e), "current": i == current} for i, e in enumerate(events)], human)


# -- sdk / openapi ---------------------------------------------------------------------------------------
@app.command()
def sdk(stage: Stage,
        lang: Annotated[str, typer.Option("--lang", help="javascript, java, android, objectivec, swift or ruby.")],
        output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the SDK.")],
        as_json: Json = False) -> None:
    """Generate a client SDK of the stage with API Gateway (GetSdk) into a folder."""
    from portico.ops.openapi import document, generate_sdk, sdk_unsupported

    rec = reconciler()
    try:
        files = generate_sdk(rec.clients.apigateway, rec.settings, stage, lang, output)
        fallback = False
    except ClientError as exc:
        if not (rec.settings.endpoint_url and sdk_unsupported(exc)):
            raise
        # The local emulator has no SDK generator: leave the OpenAPI document a generator can use.
        output.mkdir(parents=True, exist_ok=True)
        doc = output / f"{rec.settings.stack}-{stage}-openapi.json"
        doc.write_text(json.dumps(document(rec.clients, rec.settings, stage), indent=2) + "\n")
        warn(f"the local AWS at {rec.settings.endpoint_url} does not generate SDKs (GetSdk); wrote the OpenAPI 3 "
             f"document instead: {doc}")
        files, fallback = [doc], True
    emit({"stage": stage, "lang": lang, "output": str(output), "files": [str(f) for f in files],
          "openapiInstead": fallback},
         lambda: fallback or out.print(f"wrote {len(files)} file(s) to {output} ({files[0].name})"))


@app.command()
def openapi(stage: Stage,
            output: Annotated[Path | None, typer.Option("-o", "--output", help="File (default: stdout).")] = None,
            as_json: Json = False) -> None:
    """An OpenAPI 3 document of the routes, with each service's security scheme (JSON on stdout, or a file)."""
    from portico.ops.openapi import document

    rec = reconciler()
    doc = json.dumps(document(rec.clients, rec.settings, stage), indent=2) + "\n"
    if output is None:
        print(doc, end="")  # the document is the JSON result
        return
    output.write_text(doc)
    emit({"stage": stage, "output": str(output)}, lambda: out.print(f"wrote {output}"))


# -- metrics / doctor / graph ----------------------------------------------------------------------------
@app.command()
def metrics(service: Annotated[str, typer.Argument(metavar="SERVICE")],
            stage: Annotated[str | None, typer.Option("--stage", help="Default: the last stage (prod).")] = None,
            as_json: Json = False) -> None:
    """Calls, p50/p99 latency and errors of the last hour (CloudWatch GetMetricData)."""
    from portico.kinds.alarms import watched_stage
    from portico.ops.metrics import fetch
    from portico.state import StateTable
    from portico.steps import Route

    rec = reconciler()
    s = rec.settings
    stage = stage or watched_stage(s)
    check_stage(s, stage)
    ledger = StateTable(rec.clients.dynamodb, s.state_table).snapshot().ledgers.get(service)
    if not ledger or not ledger.path:
        raise refused(f"SERVICE: {service!r} is not routed by portico", "`portico ls` lists the services")
    item = rec.registry.get(service) or {}
    methods = tuple(item.get("methods") or ("ANY",))
    api_name = rec.clients.apigateway.get_rest_api(restApiId=s.rest_api_id)["name"]
    f = fetch(rec.clients.cloudwatch, Route(service, ledger.path, methods, None, None), api_name, stage)

    def ms(v):
        return f"{v:.0f} ms" if v is not None else "—"

    emit({"service": service, "stage": stage, "window": "1h", "calls": f.calls, "errors4xx": f.errors_4xx,
          "errors5xx": f.errors_5xx, "errorRatePercent": f.error_rate, "p50Ms": f.p50_ms, "p99Ms": f.p99_ms},
         lambda: out.print(f"{service} on {stage}, last hour: {f.calls:.0f} calls, p50 {ms(f.p50_ms)}, "
                           f"p99 {ms(f.p99_ms)}, 4XX {f.errors_4xx:.0f}, 5XX {f.errors_5xx:.0f}"
                           + (f" ({f.error_rate:.2f}%)" if f.error_rate is not None else ""), highlight=False))


@app.command()
def doctor(service: Annotated[str, typer.Argument(metavar="SERVICE")],
           probe: Annotated[bool, typer.Option("--probe", help="Also send an HTTP request to the invoke URL.")]
           = False,
           api_key: Annotated[str | None, typer.Option("--api-key", envvar="PORTICO_PROBE_API_KEY",
                                                       help="x-api-key for the probe.")] = None,
           as_json: Json = False) -> None:
    """Walk the chain entry → port → listener → target group → ECS → health → security group → API → stage.

    Exits 1 when a link is broken; each broken link comes with its fix; 4 for an unknown service.
    """
    from portico.ops.doctor import Doctor

    from ..local_aws.dataplane.process import GATEWAY_URL_ENV
    from .routes import known

    rec = reconciler()
    known(rec, [service])
    checks = Doctor(rec.clients, rec.settings).run(service, probe=probe, api_key=api_key,
                                                   probe_base=os.environ.get(GATEWAY_URL_ENV))
    bad = sum(1 for c in checks if not c.ok)

    def human() -> None:
        for c in checks:
            mark = "[green]✓[/]" if c.ok else "[red]✗[/]"
            out.print(f"{mark} {c.link}: {escape(c.detail)}", highlight=False)
            if not c.ok and c.fix:
                out.print(f"    fix: {escape(c.fix)}", highlight=False)

    emit({"service": service, "ok": not bad, "checks": [asdict(c) for c in checks]}, human)
    if bad:
        err.print(f"{bad} of {len(checks)} link(s) broken")
        raise typer.Exit(Code.FAILED)


@app.command()
def graph(output: Annotated[Path, typer.Option("-o", "--output", help="SVG file.")] = Path("portico-graph.svg"),
          mermaid_file: Annotated[Path | None, typer.Option("--mermaid", help="Also write the Mermaid text here.")]
          = None,
          as_json: Json = False) -> None:
    """The routing as a diagram: Mermaid text on stdout, an SVG file; coloured by status."""
    from portico.ops.graph import mermaid, rows, svg

    rec = reconciler()
    s = rec.settings
    data = rows(rec.clients, s)
    title = f"portico stack {s.stack} — REST API {s.rest_api_id} / stage {s.stage}"
    text = mermaid(data, title)
    output.write_text(svg(data, title))
    if mermaid_file:
        mermaid_file.write_text(text)

    def human() -> None:
        print(text, end="")
        err.print(f"wrote {output} ({len(data)} service(s))")

    emit({"svg": str(output), "mermaid": text, "services": [asdict(r) for r in data]}, human)
