"""The last stage of a pass: what each registry entry is told (READY, PENDING or FAILED, and why).

Pure: computed from the pass's plan and outcome, written back onto the entries by `reconcile`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .desired import invoke_url
from .registry import FAILED, PENDING, READY, Status, ecs_repairs, flapping
from .spec import HealthCheck, ServiceSpec
from .steps import Plan

REGISTERING = "routed before any target is healthy"  # a READY message's note that its targets were registering
FRESH_TARGETS = ("create_target_group", "attach_ecs")  # a new target group, or ECS rolling tasks into it


@dataclass
class Pass:
    """What a pass ended with, per service: its entries as read, their specs, and what became of them."""

    items: dict[str, dict[str, Any]]
    specs: dict[str, ServiceSpec]
    plan: Plan
    invalid: dict[str, str] = field(default_factory=dict)  # the entry was refused (by validation)
    failed: dict[str, str] = field(default_factory=dict)  # planning or a step failed it
    retry: dict[str, str] = field(default_factory=dict)  # left to retry (a lost race, a quota's wait)
    routed: set[str] = field(default_factory=set)  # services with a ledger (routing in place) before the pass
    target_groups: dict[str, str] = field(default_factory=dict)  # target group name -> ARN
    # the routes in place before the pass, by service: (listener port or None in ALB mode, path, target group ARN)
    routes: dict[str, tuple[int | None, str, str | None]] = field(default_factory=dict)


def status_of(p: Pass, service: str, *, rest_api_id: str, region: str, stage: str, now: float,
              sweep_seconds: float, domain: str | None = None) -> Status:
    item, spec = p.items[service], p.specs.get(service)
    digest = spec.digest() if spec else None
    # A service whose route was in place before the pass keeps it while it is not READY on its new spec (the old
    # route is still served): its entry keeps the port, URL and target group of that route.
    old = p.routes.get(service)
    kept = {"listener_port": old[0], "invoke_url": invoke_url(rest_api_id, region, stage, old[1]),
            "target_group_arn": old[2]} if old else {}
    if service in p.invalid:
        still = "; the last valid routing stays in place" if service in p.routed else ""
        return Status(FAILED, p.invalid[service] + still, **kept)
    if service in p.retry:
        return Status(PENDING, f"will retry: {p.retry[service]}", spec_hash=digest, **kept)
    if service in p.failed:
        return Status(FAILED, p.failed[service], spec_hash=digest, **kept)
    d = p.plan.desired[service]
    # A repair only after a pass that ended READY on this spec: a pass stopped mid-way (retry) leaves the
    # ledger naming an ECS service it never attached to.
    repaired = item.get("status") == READY and item.get("specHash") == digest and any(
        st.action == "attach_ecs" and st.service == service and st.params.get("repair") for st in p.plan.steps)
    repairs, repaired_at, flaps = ecs_repairs(item, repaired, now, sweep_seconds)
    via = f"rule priority {d.priority} on the ALB" if d.priority is not None else f"port {d.port}"
    message = f"routed {d.spec.path} to {via} and ECS service {d.ecs_key}"
    if flaps:
        message += "; " + flapping(repairs, d.ecs_key)
    # Said by the pass that gave the service fresh targets, and kept while the entry stays READY on the same spec,
    # so the passes after it write nothing (`portico ls` dates it by `reconciledAt`)
    said = item.get("status") == READY and item.get("specHash") == digest and REGISTERING in str(
        item.get("statusMessage") or "")
    if said or service not in p.routed or any(st.action in FRESH_TARGETS and st.service == service
                                              for st in p.plan.steps):
        message += "; " + registering(d.spec.health_check, nlb=d.priority is None)
    return Status(READY, message, listener_port=d.port if d.priority is None else None,
                  invoke_url=invoke_url(rest_api_id, region, stage, d.spec.path, domain),
                  target_group_arn=p.target_groups.get(d.target_group_name), spec_hash=digest,
                  ecs_repairs=repairs, ecs_repaired_at=repaired_at)


def registering(check: HealthCheck, *, nlb: bool) -> str:
    """What READY does not promise yet: computed from the health check's settings, never read (a pass makes no
    DescribeTargetHealth). AWS: a target takes requests once registered and past the initial health checks, and
    an NLB "can take a few minutes" to register a target and start checking it
    (https://docs.aws.amazon.com/elasticloadbalancing/latest/network/target-group-health-checks.html)."""
    return (f"{REGISTERING}: a task takes requests once {check.healthy} health checks {check.interval} s apart "
            f"pass, about {check.first_healthy_seconds} s after ECS registers it"
            + ("; an NLB can take a few minutes more to register a target" if nlb else ""))
