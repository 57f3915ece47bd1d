"""The ECS attachment: portico's target group in the service's `loadBalancers`, every other entry kept."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..desired import DesiredService
from ..errors import Busy, StepError, is_not_found
from ..observed import Observed
from ..steps import ApplyContext, Step


def plan(d: DesiredService, obs: Observed) -> list[Step]:
    s, steps = d.service, []
    ledger = obs.state.ledgers.get(s)
    tg = obs.target_groups.get(d.target_group_name)
    svc = obs.ecs[d.ecs_key]
    arn = tg.arn if tg else None
    old = sorted(set((ledger.target_groups if ledger else {}).values()) - ({arn} if tg else set()))
    attached = any(lb.get("targetGroupArn") == arn and lb.get("containerName") == d.container_name
                   and lb.get("containerPort") == d.spec.container_port for lb in svc.load_balancers)
    stale = [lb["targetGroupArn"] for lb in svc.load_balancers if lb.get("targetGroupArn") in old]
    if tg is None or not attached or stale:
        steps.append(Step("attach_ecs", s, {"ecsService": d.ecs_key, "targetGroup": d.target_group_name,
                                            "containerName": d.container_name,
                                            "containerPort": d.spec.container_port, "detach": old}))
    if ledger and ledger.ecs and ledger.ecs != d.ecs_key:  # the entry names another ECS service now
        steps.append(Step("detach_ecs", s, {"ecsService": ledger.ecs,
                                            "targetGroups": sorted(ledger.target_groups.values())}))
    return steps


def plan_removal(service: str, obs: Observed) -> list[Step]:
    ledger = obs.state.ledgers[service]
    arns = sorted(arn for arn in obs.ledger_target_groups(ledger).values() if arn)
    return [Step("detach_ecs", service, {"ecsService": ledger.ecs, "targetGroups": arns})] if ledger.ecs and arns \
        else []


def _update_load_balancers(ctx: ApplyContext, key: str, change) -> None:
    """Read-modify-write of the whole loadBalancers list under a lease, keeping foreign entries."""
    cluster, service = key.split("/", 1)
    lock = f"ecs#{key}"
    for _ in range(50):
        if ctx.state.acquire(lock, ctx.holder):
            break
        ctx.sleep(0.2)
    else:
        raise Busy(f"ECS service {key} is being changed by another reconcile")
    try:
        described = ctx.clients.ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
        if not described or described[0].get("status") == "INACTIVE":
            raise StepError(f"ECS service {key} no longer exists")
        current = list(described[0].get("loadBalancers") or [])
        wanted = change(current)
        if wanted != current:
            ctx.clients.ecs.update_service(cluster=cluster, service=service, loadBalancers=wanted)
    finally:
        ctx.state.release_lock(lock, ctx.holder)


def attach_ecs(step: Step, ctx: ApplyContext) -> None:
    p = step.params
    arn = ctx.tg_arns[p["targetGroup"]]
    drop = set(p.get("detach") or []) | {arn}
    entry = {"targetGroupArn": arn, "containerName": p["containerName"], "containerPort": p["containerPort"]}
    ledger = ctx.ledger(step.service)
    if ledger.ecs != p["ecsService"]:  # write-ahead: offboarding must know which ECS service to detach
        ledger.ecs = p["ecsService"]
        ctx.write_ahead(step.service)
    _update_load_balancers(ctx, p["ecsService"],
                           lambda lbs: [lb for lb in lbs if lb.get("targetGroupArn") not in drop] + [entry])
    ctx.ledger(step.service).ecs = p["ecsService"]


def detach_ecs(step: Step, ctx: ApplyContext) -> None:
    drop = set(step.params["targetGroups"])
    try:
        _update_load_balancers(ctx, step.params["ecsService"],
                               lambda lbs: [lb for lb in lbs if lb.get("targetGroupArn") not in drop])
    except StepError as exc:
        if "no longer exists" not in str(exc):
            raise
    except ClientError as exc:
        if not is_not_found(exc):
            raise
    ledger = ctx.ledger(step.service)
    if ledger.ecs == step.params["ecsService"]:
        ledger.ecs = None


APPLY = {"attach_ecs": attach_ecs, "detach_ecs": detach_ecs}
