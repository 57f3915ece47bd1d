"""The `portico` CLI in-process against the test stack: the same validation as the registry, the same pipeline."""

from __future__ import annotations

import json

import pytest

from portico.registry import Registry

ORDERS = ("onboard", "orders", "--cluster", "demo", "--container-port", "8080", "--path", "/orders", "--auth", "NONE")


def test_onboard_plan_reconcile_ls_offboard(cli, clients, stack):
    assert cli(*ORDERS)[0] == 0
    item = Registry(clients.dynamodb, stack.registry_table).get("orders")
    assert item["status"] == "PENDING" and item["containerPort"] == 8080
    code, out, _ = cli("plan", "--json")
    steps = json.loads(out)["steps"]
    assert code == 0 and {s["action"] for s in steps} >= {"reserve", "create_listener", "attach_ecs", "deploy"}
    assert all("service" in s for s in steps)
    assert cli("reconcile")[0] == 0
    code, out, _ = cli("ls", "--json")
    (row,) = json.loads(out)
    assert row["status"] == "READY" and row["port"] == 10000 and row["invokeUrl"].endswith("/dev/orders")
    assert json.loads(cli("plan", "--json")[1]) == {"steps": [], "failed": []}
    assert cli("offboard", "orders")[0] == 0
    assert cli("reconcile")[0] == 0
    assert json.loads(cli("ls", "--json")[1]) == []
    assert cli("offboard", "orders")[0] == 1


@pytest.mark.parametrize(("args", "message"), [
    (("--container-port", "0"), "containerPort: must be a whole number from 1 to 65535, got 0"),
    (("--path", "/a/../b"), "path: must not contain '.' or '..' segments"),
    (("--method", "FETCH"), "methods: unknown method 'FETCH'"),
    (("--ecs-service", "ghost"), "ecsService: ECS service 'ghost' was not found in cluster 'demo'"),
    (("--container-port", "9999"), "containerPort: no container in task definition orders:1 maps port 9999"),
])
def test_onboard_rejects_before_writing(cli, clients, stack, args, message):
    base = dict(zip(ORDERS[2::2], ORDERS[3::2], strict=True))
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    code, _, err = cli("onboard", "orders", *[x for kv in base.items() for x in kv])
    assert code == 2 and message in " ".join(err.split())
    assert Registry(clients.dynamodb, stack.registry_table).get("orders") is None


def test_onboard_refuses_a_path_claimed_by_a_pending_entry(cli):
    assert cli(*ORDERS)[0] == 0
    code, _, err = cli("onboard", "shadow", "--cluster", "demo", "--ecs-service", "users",
                           "--container-port", "8080", "--path", "/orders/v2")
    assert code == 2 and "overlaps /orders, which is claimed by service 'orders'" in " ".join(err.split())
