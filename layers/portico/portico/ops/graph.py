"""`portico graph`: the live routing as a diagram, API paths → NLB ports → target groups → ECS services,
coloured by each service's status. Mermaid text, and an SVG drawn here (no renderer, no download)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

from ..registry import Registry
from ..state import StateTable

COLOURS = {  # status -> (fill, stroke)
    "READY": ("#dcf5dc", "#2e7d32"),
    "PENDING": ("#fff4cc", "#b38600"),
    "FAILED": ("#fde0e0", "#c62828"),
    "ORPHAN": ("#eeeeee", "#757575"),  # routed by the ledger, no registry entry (offboarding)
}
COLUMNS = ("API path", "NLB port", "target group", "ECS service")


@dataclass(frozen=True)
class Row:
    service: str
    status: str
    path: str
    port: str
    target_group: str
    ecs: str
    message: str = ""


def _lb_name(arn: str | None) -> str:
    """The load balancer's name, read from its ARN (…:loadbalancer/net/<name>/<id>): the pool's configured
    members and the ones portico added alike."""
    return arn.split("/")[-2] if arn and arn.count("/") >= 2 else arn or "?"


def rows(clients, settings) -> list[Row]:
    registry = Registry(clients.dynamodb, settings.registry_table).scan()
    ledgers = StateTable(clients.dynamodb, settings.state_table).snapshot().ledgers
    out = []
    for service in sorted(set(registry) | set(ledgers)):
        item, ledger = registry.get(service) or {}, ledgers.get(service)
        status = item.get("status", "PENDING") if item else "ORPHAN"
        path = (ledger.path if ledger and ledger.path else None) or item.get("path") or "?"
        port = f"{_lb_name(ledger.load_balancer)}:{ledger.port}" if ledger and ledger.port else "—"
        tg = next(iter(sorted(ledger.target_groups)), "—") if ledger else "—"
        if ledger and ledger.ecs:
            ecs = ledger.ecs
        elif item:
            ecs = f"{str(item.get('cluster', '?')).rsplit('/', 1)[-1]}/{item.get('ecsService', service)}"
        else:
            ecs = "—"
        out.append(Row(service, status if status in COLOURS else "PENDING", path, port, tg, ecs,
                       str(item.get("statusMessage", "")) if status != "READY" else ""))
    return out


def _id(prefix: str, text: str) -> str:
    return f"{prefix}_{re.sub(r'[^A-Za-z0-9]', '_', text)}"


def mermaid(rows_: list[Row], title: str) -> str:
    lines = ["flowchart LR", f"  %% {title}"]
    by_status: dict[str, list[str]] = {}
    for r in rows_:
        ids = [_id("path", r.service), _id("port", r.service), _id("tg", r.service), _id("ecs", r.service)]
        labels = [r.path, r.port, r.target_group, r.ecs]
        for node, label in zip(ids, labels, strict=True):
            lines.append(f'  {node}["{label.replace(chr(34), "#quot;")}"]')
        lines.append(f"  {ids[0]} --> {ids[1]} --> {ids[2]} --> {ids[3]}")
        by_status.setdefault(r.status, []).extend(ids)
    for status, (fill, stroke) in COLOURS.items():
        lines.append(f"  classDef {status.lower()} fill:{fill},stroke:{stroke},color:#111")
    for status, ids in sorted(by_status.items()):
        lines.append(f"  class {','.join(ids)} {status.lower()}")
    return "\n".join(lines) + "\n"


def svg(rows_: list[Row], title: str) -> str:
    col_w, box_w, box_h, row_h, top, left = 250, 210, 38, 64, 80, 20
    width = left * 2 + col_w * len(COLUMNS)
    height = top + row_h * max(len(rows_), 1) + 70
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="13">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
           f'<text x="{left}" y="28" font-size="17" font-weight="bold">{escape(title)}</text>']
    for i, name in enumerate(COLUMNS):
        out.append(f'<text x="{left + i * col_w + box_w / 2}" y="{top - 14}" text-anchor="middle" '
                   f'fill="#555" font-weight="bold">{escape(name)}</text>')
    if not rows_:
        out.append(f'<text x="{left}" y="{top + 24}" fill="#757575">no services routed</text>')
    for j, r in enumerate(rows_):
        fill, stroke = COLOURS[r.status]
        y = top + j * row_h
        for i, label in enumerate((r.path, r.port, r.target_group, r.ecs)):
            x = left + i * col_w
            text = label if len(label) <= 30 else label[:29] + "…"
            tip = f"{r.service}: {r.status}" + (f" — {r.message}" if r.message else "")
            out.append(f'<g><title>{escape(tip)}</title><rect x="{x}" y="{y}" width="{box_w}" height="{box_h}" '
                       f'rx="6" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
                       f'<text x="{x + box_w / 2}" y="{y + box_h / 2 + 4}" text-anchor="middle">'
                       f'{escape(text)}</text></g>')
            if i:
                out.append(f'<line x1="{x - col_w + box_w}" y1="{y + box_h / 2}" x2="{x - 2}" y2="{y + box_h / 2}" '
                           f'stroke="#555" stroke-width="1.4" marker-end="url(#arrow)"/>')
    y = height - 30
    for k, (status, (fill, stroke)) in enumerate(COLOURS.items()):
        x = left + k * 130
        out.append(f'<rect x="{x}" y="{y - 12}" width="16" height="16" rx="3" fill="{fill}" stroke="{stroke}"/>'
                   f'<text x="{x + 22}" y="{y + 1}">{status.lower()}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
