"""API product commands of `portico`: keys, promote/rollback/history, sdk, openapi, metrics, doctor, graph.

"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from botocore.exceptions import ClientError
from rich.markup import escape
from rich.table import Table

from portico.product import ProductError
from portico.product import keys as keys_mod
from portico.product.stages import Stages

from ..context import err, out, reconciler

app = typer.Typer()

keys_app = typer.Typer(no_args_is_help=True, help="API keys for third parties, in usage-plan tiers.")
app.add_typer(keys_app, name="keys")


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/] {escape(message)}")
    return typer.Exit(code)


def _aws_error(exc: ClientError) -> typer.Exit:
    e = exc.response.get("Error", {})
    return _fail(f"{exc.operation_name}: {e.get('Code')}: {e.get('Message', '')}", 1)


# -- keys ------------------------------------------------------------------------------------------------
@keys_app.command("create")
def keys_create(partner: Annotated[str, typer.Argument(help="partner id: letters, digits, '.', '_', '-'")],
                plan: Annotated[str, typer.Option("--plan", help="usage-plan tier, e.g. basic or premium")]) -> None:
    """Create PARTNER's API key in a tier. The key value is printed once, here, and nowhere else."""
    rec = reconciler()
    try:
        key, value = keys_mod.create(rec.clients.apigateway, rec.settings.rest_api_id, rec.settings.stack, partner,
                                     plan)
    except ProductError as exc:
        raise _fail(str(exc)) from None
    except ClientError as exc:
        raise _aws_error(exc) from None
    out.print(f"created key {key.key_id} for {partner} in tier {plan}")
    out.print("API key (shown once; send it as the x-api-key header):", highlight=False)
    print(value, flush=True)


@keys_app.command("ls")
def keys_ls(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Partners, their key ids, tiers and whether the key is enabled (never the values)."""
    rec = reconciler()
    s = rec.settings
    try:
        rows = keys_mod.list_keys(rec.clients.apigateway, s.rest_api_id, s.stack)
        tiers = keys_mod.tiers(rec.clients.apigateway, s.rest_api_id, s.stack)
    except ClientError as exc:
        raise _aws_error(exc) from None
    if as_json:
        print(json.dumps([{"partner": r.partner, "keyId": r.key_id, "tier": r.tier, "enabled": r.enabled,
                           "created": r.created} for r in rows], indent=2))
        return
    table = Table(title=f"API keys — {s.stack}")
    for col in ("partner", "key id", "tier", "limits", "enabled", "created"):
        table.add_column(col)
    for r in rows:
        t = tiers.get(r.tier or "")
        limits = f"{t.rate:g}/s, burst {t.burst}, {t.quota}" if t and t.rate is not None else "—"
        table.add_row(r.partner, r.key_id, r.tier or "[red]none[/]", limits, "yes" if r.enabled else "no", r.created)
    out.print(table)
    if not rows:
        out.print(f"no keys yet; tiers: {', '.join(sorted(tiers)) or 'none'}")


@keys_app.command("revoke")
def keys_revoke(partner: str) -> None:
    """Remove PARTNER's key from its tier and delete it."""
    rec = reconciler()
    try:
        key = keys_mod.revoke(rec.clients.apigateway, rec.settings.rest_api_id, rec.settings.stack, partner)
    except ProductError as exc:
        raise _fail(str(exc)) from None
    except ClientError as exc:
        raise _aws_error(exc) from None
    out.print(f"revoked {partner}'s key {key.key_id} (tier {key.tier or 'none'})")


# -- stages ----------------------------------------------------------------------------------------------
def _stages() -> Stages:
    rec = reconciler()
    return Stages(rec.clients.apigateway, rec.clients.dynamodb, rec.settings)


@app.command()
def promote(source: Annotated[str, typer.Option("--from", help="stage to promote from, e.g. dev")],
            target: Annotated[str, typer.Option("--to", help="stage to point at its deployment, e.g. qa")]) -> None:
    """Point stage --to at the deployment stage --from serves (no new deployment)."""
    st = _stages()
    try:
        event, brought = st.promote(source, target)
    except ProductError as exc:
        raise _fail(str(exc)) from None
    except ClientError as exc:
        raise _aws_error(exc) from None
    if event is None:
        out.print(f"{target} already serves {source}'s deployment; nothing to promote")
        return
    out.print(f"{target} → deployment {event.deployment_id} (from {source})")
    for d in brought:
        out.print(f"  + {d['id']}  {escape(d.get('description') or '')}", highlight=False)


@app.command()
def rollback(stage: Annotated[str, typer.Option("--stage", help="stage to return to its previous deployment")]) -> None:
    """Return a stage to the deployment it served before its current one."""
    st = _stages()
    try:
        event = st.rollback(stage)
    except ProductError as exc:
        raise _fail(str(exc)) from None
    except ClientError as exc:
        raise _aws_error(exc) from None
    out.print(f"{stage}: {event.description}")


@app.command()
def history(stage: Annotated[str, typer.Option("--stage", help="stage name")],
            as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The deployments a stage has pointed to, oldest first; the current one is marked."""
    from portico.product.stages import pointer_stack

    st = _stages()
    try:
        events = st.history(stage)
    except ProductError as exc:
        raise _fail(str(exc)) from None
    current = pointer_stack(events)[-1] if events else None
    if as_json:
        print(json.dumps([{**e.__dict__, "current": e.deployment_id == current and i == _last(events, current)}
                          for i, e in enumerate(events)], indent=2))
        return
    table = Table(title=f"history of {stage}")
    for col in ("when (UTC)", "action", "deployment", "description"):
        table.add_column(col, overflow="fold")
    for i, e in enumerate(events):
        mark = " [green](current)[/]" if i == _last(events, current) else ""
        when = datetime.fromtimestamp(e.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(when, e.action + (f" from {e.source}" if e.source else ""), e.deployment_id + mark,
                      escape(e.description))
    out.print(table)


def _last(events, deployment_id) -> int:
    return max((i for i, e in enumerate(events) if e.deployment_id == deployment_id), default=-1)


# -- sdk / openapi ---------------------------------------------------------------------------------------
@app.command()
def sdk(stage: Annotated[str, typer.Option("--stage")],
        lang: Annotated[str, typer.Option("--lang", help="javascript|java|android|objectivec|swift|ruby")],
        output: Annotated[Path, typer.Option("-o", "--output", help="folder for the SDK")]) -> None:
    """Generate a client SDK of the stage with API Gateway (GetSdk) into a folder."""
    from portico.product.openapi import document, generate_sdk, sdk_unsupported

    rec = reconciler()
    try:
        files = generate_sdk(rec.clients.apigateway, rec.settings, stage, lang, output)
    except ProductError as exc:
        raise _fail(str(exc)) from None
    except ClientError as exc:
        if not (rec.settings.endpoint_url and sdk_unsupported(exc)):
            raise _aws_error(exc) from None
        # The local emulator has no SDK generator: leave the OpenAPI document a generator can use.
        output.mkdir(parents=True, exist_ok=True)
        doc = output / f"{rec.settings.stack}-{stage}-openapi.json"
        doc.write_text(json.dumps(document(rec.clients, rec.settings, stage), indent=2) + "\n")
        err.print(f"[yellow]warning:[/] the local AWS at {rec.settings.endpoint_url} does not generate SDKs "
                  f"(GetSdk); wrote the OpenAPI 3 document instead: {doc}")
        return
    out.print(f"wrote {len(files)} file(s) to {output} ({files[0].name})")


@app.command()
def openapi(stage: Annotated[str, typer.Option("--stage")],
            output: Annotated[Path | None, typer.Option("-o", "--output", help="file (default: stdout)")] = None,
            ) -> None:
    """An OpenAPI 3 document of the routes, with each service's security scheme."""
    from portico.product.openapi import document

    rec = reconciler()
    try:
        doc = json.dumps(document(rec.clients, rec.settings, stage), indent=2) + "\n"
    except ProductError as exc:
        raise _fail(str(exc)) from None
    if output:
        output.write_text(doc)
        out.print(f"wrote {output}")
    else:
        print(doc, end="")


# -- metrics / doctor / graph ----------------------------------------------------------------------------
@app.command()
def metrics(service: str,
            stage: Annotated[str | None, typer.Option("--stage", help="default: the last stage (prod)")] = None,
            as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Calls, p50/p99 latency and errors of the last hour (CloudWatch GetMetricData)."""
    from portico.product.alarms import Route, watched_stage
    from portico.product.metrics import fetch
    from portico.state import StateTable

    rec = reconciler()
    s = rec.settings
    stage = stage or watched_stage(s)
    if stage not in s.stages:
        raise _fail(f"--stage: {stage!r} is not one of this stack's stages ({', '.join(s.stages)})")
    ledger = StateTable(rec.clients.dynamodb, s.state_table).snapshot().ledgers.get(service)
    if not ledger or not ledger.path:
        raise _fail(f"SERVICE: {service!r} is not routed by portico (`portico ls` lists the services)", 1)
    item = rec.registry.get(service) or {}
    methods = tuple(item.get("methods") or ("ANY",))
    api_name = rec.clients.apigateway.get_rest_api(restApiId=s.rest_api_id)["name"]
    try:
        f = fetch(rec.clients.cloudwatch, Route(service, ledger.path, methods, None, None), api_name, stage)
    except ClientError as exc:
        raise _aws_error(exc) from None
    data = {"service": service, "stage": stage, "window": "1h", "calls": f.calls, "errors4xx": f.errors_4xx,
            "errors5xx": f.errors_5xx, "errorRatePercent": f.error_rate, "p50Ms": f.p50_ms, "p99Ms": f.p99_ms}
    if as_json:
        print(json.dumps(data, indent=2))
        return

    def ms(v):
        return f"{v:.0f} ms" if v is not None else "—"

    out.print(f"{service} on {stage}, last hour: {f.calls:.0f} calls, p50 {ms(f.p50_ms)}, p99 {ms(f.p99_ms)}, "
              f"4XX {f.errors_4xx:.0f}, 5XX {f.errors_5xx:.0f}"
              + (f" ({f.error_rate:.2f}%)" if f.error_rate is not None else ""), highlight=False)


@app.command()
def doctor(service: str,
           probe: Annotated[bool, typer.Option("--probe", help="also send an HTTP request to the invoke URL")] = False,
           api_key: Annotated[str | None, typer.Option("--api-key", envvar="PORTICO_PROBE_API_KEY",
                                                       help="x-api-key for the probe")] = None) -> None:
    """Walk the chain entry → port → listener → target group → ECS → health → security group → API → stage."""
    from portico.product.doctor import Doctor

    rec = reconciler()
    checks = Doctor(rec.clients, rec.settings).run(service, probe=probe, api_key=api_key)
    for c in checks:
        mark = "[green]✓[/]" if c.ok else "[red]✗[/]"
        out.print(f"{mark} {c.link}: {escape(c.detail)}", highlight=False)
        if not c.ok and c.fix:
            out.print(f"    fix: {escape(c.fix)}", highlight=False)
    bad = sum(1 for c in checks if not c.ok)
    if bad:
        err.print(f"{bad} of {len(checks)} link(s) broken")
        raise typer.Exit(1)


@app.command()
def graph(output: Annotated[Path, typer.Option("-o", "--output", help="SVG file")] = Path("portico-graph.svg"),
          mermaid_file: Annotated[Path | None, typer.Option("--mermaid", help="also write the Mermaid text here")]
          = None) -> None:
    """The routing as a diagram: Mermaid text on stdout, an SVG file; coloured by status."""
    from portico.product.graph import mermaid, rows, svg

    rec = reconciler()
    s = rec.settings
    data = rows(rec.clients, s)
    title = f"portico stack {s.stack} — REST API {s.rest_api_id} / stage {s.stage}"
    text = mermaid(data, title)
    output.write_text(svg(data, title))
    if mermaid_file:
        mermaid_file.write_text(text)
    print(text, end="")
    err.print(f"wrote {output} ({len(data)} service(s))")
