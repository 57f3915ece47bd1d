"""The vocabulary of a pass: the plan (a value: pure, printable, JSON, golden-tested). What applying it holds is
`context.py`.

Steps name objects by their stable identity (target group name, load balancer + port, API path), not by
ARNs that do not exist yet; `apply` resolves identities to ARNs and ids as it goes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .desired import DesiredService
from .observed import Observed
from .spec import route_paths

# One ordering table: creates and updates front to back, then deletes in reverse dependency order,
# then one deployment. A target group is deleted after the listener and ECS service that use it. A load balancer
# added to the pool is created first (AWS takes minutes) and waited for last (kinds/load_balancer.py).
ORDER = (
    "create_load_balancer",
    "reserve",
    "check_container", "adopt_target_group", "create_target_group", "modify_target_group",
    "create_listener", "modify_listener", "create_rule", "modify_rule",
    "import_routes", "create_resource", "put_method", "update_method", "put_integration", "delete_method",
    "attach_ecs", "put_alarms",
    "delete_resource", "detach_ecs", "delete_rule", "delete_listener", "delete_target_group", "delete_alarms",
    "release", "delete_load_balancer",
    "deploy", "update_stage", "put_dashboard", "delete_dashboards",
    "await_load_balancer",
)
# The steps that change the REST API: the stage needs a new deployment after any of them.
API_ACTIONS = frozenset({"import_routes", "create_resource", "put_method", "update_method", "put_integration",
                         "delete_method", "delete_resource"})


@dataclass(frozen=True)
class Step:
    action: str
    service: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "service": self.service, **self.params}

    def describe(self) -> str:
        """The action on its object, for logs and status messages: `create listener port 10003`."""
        p = self.params
        obj = next((f"{label} {p[key]}" for key, label in (
            ("name", "target group"), ("targetGroup", "target group"), ("ecsService", "ECS service"),
            ("path", "API resource"), ("port", "port"), ("stage", "stage")) if p.get(key)), "")
        if self.action in ("reserve", "release"):
            obj = " and ".join(x for x in (p.get("port") and f"port {p['port']}",
                                           p.get("priority") and f"rule priority {p['priority']}",
                                           p.get("path") and f"path {p['path']}") if x)
        elif self.action in ("create_rule", "modify_rule", "delete_rule") and p.get("priority"):
            obj = f"listener rule priority {p['priority']}"
        elif self.action in ("create_listener", "modify_listener", "delete_listener") and p.get("port"):
            obj = f"port {p['port']}"
        elif self.action in ("attach_ecs", "detach_ecs", "check_container"):
            obj = f"ECS service {p.get('ecsService')}"
        elif self.action in ("put_method", "update_method", "put_integration", "delete_method"):
            obj = f"{p.get('httpMethod')} {p.get('path')}"
        return f"{self.action.replace('_', ' ')} {obj}".strip()

    def __str__(self) -> str:
        detail = " ".join(f"{k}={v}" for k, v in self.params.items() if not isinstance(v, (dict, list)))
        return f"{self.action:<20} {self.service:<28} {detail}"


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    desired: dict[str, DesiredService] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # service -> why it cannot be served
    removed: list[str] = field(default_factory=list)  # services being offboarded

    def sort(self) -> Plan:
        self.steps.sort(key=lambda st: ORDER.index(st.action))  # stable: keeps per-service order
        return self

    def to_json(self) -> dict[str, Any]:
        return {"steps": [st.to_json() for st in self.steps],
                "failed": [{"service": k, "reason": v} for k, v in sorted(self.failed.items())]}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True)

    def __bool__(self) -> bool:
        return bool(self.steps)


@dataclass(frozen=True)
class Route:
    """What the alarms and the dashboard need to know about one routed service (a step's `route` param)."""

    service: str
    path: str
    methods: tuple[str, ...]
    target_group: str | None  # name; the ARN is resolved when the request is built
    load_balancer: str | None  # ARN

    def method_pairs(self) -> list[tuple[str, str]]:
        """(resource path, method) of the service: the route and its {proxy+} child."""
        return [(p, m) for p in route_paths(self.path) for m in self.methods]

    def to_json(self) -> dict[str, Any]:
        return {"service": self.service, "path": self.path, "methods": list(self.methods),
                "targetGroup": self.target_group, "loadBalancer": self.load_balancer}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Route:
        return cls(d["service"], d["path"], tuple(d["methods"]), d.get("targetGroup"), d.get("loadBalancer"))

    @classmethod
    def of(cls, d: DesiredService) -> Route:
        return cls(d.service, d.spec.path, d.spec.methods, d.target_group_name, d.load_balancer)


def routes(plan: Plan, obs: Observed) -> list[Route]:
    """Every service that is routed after this pass: desired ones as planned, the rest as the ledger says."""
    out = {s: Route.of(d) for s, d in plan.desired.items()}
    for s, ledger in obs.state.ledgers.items():
        if s in out or s in plan.removed or not ledger.path:
            continue
        res = obs.resources.get(ledger.path)
        methods = tuple(sorted(res.methods)) if res and res.methods else ("ANY",)
        tg = next(iter(sorted(ledger.target_groups)), None)
        out[s] = Route(s, ledger.path, methods, tg, ledger.load_balancer)
    return [out[s] for s in sorted(out)]

