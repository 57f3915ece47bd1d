"""`portico graph`: Mermaid text and an SVG of the routing, coloured by status."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from portico.ops.graph import COLOURS, Row, mermaid, svg
from portico.reconcile import ALL
from portico.registry import Registry
from tests.conftest import spec_item

NS = {"s": "http://www.w3.org/2000/svg"}


def label(text: str) -> str:
    """As the SVG writes a box's text: cut past 30 characters (the template's NLB names are longer)."""
    return text if len(text) <= 30 else text[:29] + "…"


def test_graph_draws_every_service_coloured_by_status(clients, stack, reconciler, cli, tmp_path):
    reg = Registry(clients.dynamodb, stack.registry_table)
    reg.put_spec(spec_item("orders"))
    reg.put_spec(spec_item("users"))
    reg.put_spec(spec_item("ghost", ecsService="missing"))  # FAILED: no such ECS service
    reconciler.run(ALL)

    code, out, err = cli("graph", "-o", str(tmp_path / "g.svg"), "--mermaid", str(tmp_path / "g.mmd"))
    assert code == 0, err
    assert out.startswith("flowchart LR\n") and (tmp_path / "g.mmd").read_text() == out
    port, nlb = int(reg.get("orders")["listenerPort"]), stack.load_balancer_arns[0].split("/")[2]  # its name
    assert f'port_orders["{nlb}:{port}"]' in out
    assert "path_orders --> port_orders --> tg_orders --> ecs_orders" in out
    assert 'ecs_orders["demo/orders"]' in out
    assert "class path_ghost,port_ghost,tg_ghost,ecs_ghost failed" in out
    assert "class path_orders,port_orders,tg_orders,ecs_orders,path_users,port_users,tg_users,ecs_users ready" in out

    root = ET.parse(tmp_path / "g.svg").getroot()  # well-formed SVG
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "/orders" in texts and "demo/orders" in texts and label(f"{nlb}:{port}") in texts
    fills = [r.get("fill") for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert fills.count(COLOURS["FAILED"][0]) == 4 + 1  # ghost's four boxes + the legend
    assert fills.count(COLOURS["READY"][0]) == 8 + 1

    code, out, _ = cli("graph", "-o", str(tmp_path / "j.svg"), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["svg"] == str(tmp_path / "j.svg") and doc["mermaid"].startswith("flowchart LR\n")
    assert {r["service"]: r["status"] for r in doc["services"]} == {"ghost": "FAILED", "orders": "READY",
                                                                     "users": "READY"}


def test_svg_escapes_text_and_handles_no_services():
    rows = [Row("x", "PENDING", "/a&b", "—", "<tg>", 'c/"s"')]
    root = ET.fromstring(svg(rows, "t <1>"))
    assert "/a&b" in [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert ET.fromstring(svg([], "empty")) is not None
    assert "#quot;" in mermaid(rows, "t")
