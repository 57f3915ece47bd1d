"""The planner is pure: hand-built observed state in, a plan out, compared with golden JSON.

Regenerate after an intended change with PORTICO_UPDATE_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from portico.desired import target_group_name
from portico.observed import EcsService, Listener, LoadBalancer, Method, Observed, Resource, TargetGroup
from portico.plan import make_plan
from portico.settings import Settings
from portico.spec import parse
from portico.state import Ledger, StateSnapshot

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
LB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/portico-nlb-1/abc"
DNS = "portico-nlb-1.elb.us-east-1.amazonaws.com"
SETTINGS = Settings(rest_api_id="api123", load_balancer_arns=(LB,), vpc_link_ids=("vl1",), vpc_id="vpc-1",
                    allow_unauthenticated=True)
TG = {s: target_group_name("portico", s, 8080, "ip") for s in ("orders", "users")}



def ecs(name: str, lbs=()) -> EcsService:
    return EcsService(key=f"demo/{name}", arn=f"arn:ecs:{name}", status="ACTIVE", controller="ECS",
                      task_definition=f"arn:td/{name}:1", load_balancers=list(lbs), containers={"app": {8080}})


def spec(service: str, **kw):
    return parse({"service": service, "cluster": "demo", "containerPort": 8080, "path": f"/{service}",
                  "auth": "NONE", **kw}, allow_unauthenticated=True)


def method(port: int, proxy: bool, verb: str = "ANY") -> Method:
    uri = f"http://{DNS}:{port}/" + ("{proxy}" if proxy else "")
    params = {"integration.request.path.proxy": "method.request.path.proxy"} if proxy else {}
    return Method(verb, "NONE", False, None, {"type": "HTTP_PROXY", "uri": uri, "connectionType": "VPC_LINK",
                                              "httpMethod": verb, "requestParameters": params})


def empty() -> Observed:
    return Observed(state=StateSnapshot(), load_balancers={LB: LoadBalancer(LB, DNS, "vl1")}, target_groups={},
                    resources={"/": Resource("root", "/", None)},
                    ecs={"demo/orders": ecs("orders"), "demo/users": ecs("users")})


def converged_orders() -> Observed:
    obs = empty()
    tg_arn = f"arn:tg/{TG['orders']}"
    obs.state.ledgers["orders"] = Ledger("orders", LB, 10000, "/orders", {TG["orders"]: tg_arn}, "arn:listener/1",
                                         {"/orders": "r1", "/orders/{proxy+}": "r2"}, "demo/orders")
    obs.state.ports[(LB, 10000)] = "orders"
    obs.state.paths["/orders"] = "orders"
    obs.load_balancers[LB].listeners[10000] = Listener("arn:listener/1", 10000, "TCP", (tg_arn,))
    obs.target_groups[TG["orders"]] = TargetGroup(tg_arn, TG["orders"], 8080, "TCP", "ip", "TCP", None)
    obs.resources["/orders"] = Resource("r1", "/orders", "root", {"ANY": method(10000, False)})
    obs.resources["/orders/{proxy+}"] = Resource("r2", "/orders/{proxy+}", "r1", {"ANY": method(10000, True)})
    obs.ecs["demo/orders"] = ecs("orders", [{"targetGroupArn": tg_arn, "containerName": "app",
                                             "containerPort": 8080}])
    return obs


def with_foreign_listener(obs: Observed) -> Observed:
    obs.load_balancers[LB].listeners[10001] = Listener("arn:listener/foreign", 10001, "TCP", ("arn:tg/foreign",))
    return obs


def drifted(obs: Observed) -> Observed:
    del obs.load_balancers[LB].listeners[10000]
    obs.resources["/orders"].methods["ANY"].integration["uri"] = "http://elsewhere:1/"
    obs.ecs["demo/orders"].load_balancers.clear()
    return obs


CASES = {
    "onboard-two": (empty, {"orders": spec("orders"), "users": spec("users", methods=["GET", "POST"])}, None),
    "converged": (converged_orders, {"orders": spec("orders")}, None),
    "skip-foreign-port": (lambda: with_foreign_listener(converged_orders()), {"orders": spec("orders"),
                                                                                "users": spec("users")}, None),
    "drift": (lambda: drifted(converged_orders()), {"orders": spec("orders")}, None),
    "offboard": (converged_orders, {}, None),
    "auth-change": (converged_orders, {"orders": spec("orders", auth="IAM")}, None),
    "path-taken": (converged_orders, {"orders": spec("orders"), "users": spec("users", path="/orders/users")},
                   None),
    "scoped-keeps-others": (converged_orders, {"users": spec("users")}, {"users"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_plan(name):
    observed, specs, scope = CASES[name]
    plan = make_plan(specs, observed(), SETTINGS, "us-east-1", scope, set(specs))
    got = plan.to_json()
    path = GOLDEN / f"{name}.json"
    if os.environ.get("PORTICO_UPDATE_GOLDEN"):
        path.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(path.read_text())


def test_converged_plan_is_empty():
    assert make_plan({"orders": spec("orders")}, converged_orders(), SETTINGS, "us-east-1", None,
                     {"orders"}).steps == []


def test_plan_does_not_change_its_input():
    obs = empty()
    before = repr(obs)
    make_plan({"orders": spec("orders")}, obs, SETTINGS, "us-east-1", None, {"orders"})
    assert repr(obs) == before
