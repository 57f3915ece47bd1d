"""The ECS attachment: portico's target group in the service's `loadBalancers`, every other entry kept."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError

from ..context import ApplyContext
from ..desired import DesiredService, container_for
from ..errors import Busy, StepError, is_not_found
from ..observed import Observed, task_definition
from ..spec import SpecError
from ..steps import Step


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
    if svc.containers is None:  # its task definition is read first, at the head of the service's chain
        steps.append(Step("check_container", s, {
            "ecsService": d.ecs_key, "taskDefinition": svc.task_definition, "containerName": d.container_name,
            "containerPort": d.spec.container_port, "targetType": d.target_type}))
    if tg is None or not attached or stale:
        params = {"ecsService": d.ecs_key, "targetGroup": d.target_group_name, "containerName": d.container_name,
                  "containerPort": d.spec.container_port, "detach": old}
        if tg and not stale and ledger and ledger.ecs == d.ecs_key and tg.arn in set(ledger.target_groups.values()):
            params["repair"] = True  # attached by an earlier pass, gone now: someone else removed it
        steps.append(Step("attach_ecs", s, params))
    if ledger and ledger.ecs and ledger.ecs != d.ecs_key:  # the entry names another ECS service now
        steps.append(Step("detach_ecs", s, {"ecsService": ledger.ecs,
                                            "targetGroups": sorted(ledger.target_groups.values())}))
    return steps


def plan_removal(service: str, obs: Observed) -> list[Step]:
    ledger = obs.state.ledgers[service]
    found = obs.ledger_target_groups(ledger)
    arns = sorted(arn for arn in found.values() if arn)
    # a group the ledger names without an ARN (a create cut short) is detached only once its token proves it
    # portico's: a look-alike of the same name that someone attached stays attached
    unknown = {arn: name for name, arn in found.items() if arn and arn not in ledger.target_groups.values()}
    params = {"ecsService": ledger.ecs, "targetGroups": arns, **({"verify": unknown} if unknown else {})}
    return [Step("detach_ecs", service, params)] if ledger.ecs and arns else []


def _update_load_balancers(ctx: ApplyContext, key: str, change, described: dict | None = None) -> None:
    """Read-modify-write of the whole loadBalancers list under a lease, keeping foreign entries.
    `described`: the service as read under a lease this pass already holds (attach_many)."""
    cluster, service = key.split("/", 1)
    lock, leased = f"ecs#{key}", described is not None
    if not leased:
        for _ in range(50):
            if ctx.state.acquire(lock, ctx.holder):
                break
            ctx.sleep(0.2)
        else:
            raise Busy(f"ECS service {key} is being changed by another reconcile")
    try:
        if not leased:
            described = _describe(ctx, cluster, [service]).get(service)
        if not described or described.get("status") in (None, "INACTIVE"):
            raise StepError(f"ECS service {key} no longer exists")
        current = list(described.get("loadBalancers") or [])
        wanted = change(current)
        if wanted != current:
            ctx.clients.ecs.update_service(cluster=cluster, service=service, loadBalancers=wanted)
            described["loadBalancers"] = wanted  # a second entry of the same ECS service builds on this
    finally:
        if not leased:
            ctx.state.release_lock(lock, ctx.holder)


def _describe(ctx: ApplyContext, cluster: str, services: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for i in range(0, len(services), 10):  # DescribeServices takes 10 at a time
        resp = ctx.clients.ecs.describe_services(cluster=cluster, services=services[i:i + 10])
        out.update({s["serviceName"]: s for s in resp.get("services", [])})
    return out


def check_container(step: Step, ctx: ApplyContext) -> None:
    """A task definition observation left to apply (observed.read_ecs): the checks the plan makes of a read one
    (desired.container_for), before the service's first ELBv2 call, so a container that does not map the port
    still fails the service before anything is made for it. Its answer is kept for the pass to cache."""
    p = step.params
    td = ctx.task_definitions.get(p["taskDefinition"])
    if td is None:
        td = ctx.task_definitions[p["taskDefinition"]] = task_definition(ctx.clients.ecs, p["taskDefinition"])
    containers = {name: set(ports) for name, ports in td["containers"].items()}
    try:
        ctx.containers[step.service] = container_for(p["containerName"], p["containerPort"], containers,
                                                     p["taskDefinition"])
    except SpecError as exc:
        raise StepError(str(exc)) from None
    if ("ip" if td["networkMode"] == "awsvpc" else "instance") != p["targetType"]:  # AWS keeps the two in step
        raise StepError(f"task definition {p['taskDefinition'].rsplit('/', 1)[-1]} uses network mode "
                        f"{td['networkMode']}, which the ECS service's network configuration does not match")


def attach_ecs(step: Step, ctx: ApplyContext, described: dict | None = None) -> None:
    p = step.params
    arn = ctx.tg_arns[p["targetGroup"]]
    drop = set(p.get("detach") or []) | {arn}
    container = p["containerName"] or ctx.containers[step.service]  # None: check_container found it
    entry = {"targetGroupArn": arn, "containerName": container, "containerPort": p["containerPort"]}
    ledger = ctx.ledger(step.service)
    if ledger.ecs != p["ecsService"]:  # write-ahead: offboarding must know which ECS service to detach
        ledger.ecs = p["ecsService"]
        ctx.write_ahead(step.service)
    _update_load_balancers(ctx, p["ecsService"],
                           lambda lbs: [lb for lb in lbs if lb.get("targetGroupArn") not in drop] + [entry],
                           described)
    ctx.ledger(step.service).ecs = p["ecsService"]


# 50, not DynamoDB's 100 actions per transaction: apply runs the chunks on WORKERS (8) threads side by side, which
# share ECS's 20 UpdateService a second (18 paced, pace.py): a chunk of 50 holds its leases for ~8 x 50 / 18 = 22 s,
# a third of the lease's 60 (the claims' own margin, state/claims.py), where a chunk of 100 would take ~44 s of it.
LEASE_BATCH = 50
ATTACHERS = 8  # threads of one chunk's UpdateService calls


def attach_many(steps: list[Step], ctx: ApplyContext) -> list[Step]:
    """Attachments of many ECS services: their leases in one transaction per 50 (held for 50 UpdateService
    calls, a third of the 60 s lease with 8 chunks side by side), the services read in DescribeServices calls
    of 10, one UpdateService each, the leases released in one transaction. What it cannot do so (a lease held
    elsewhere, a failing call) goes one by one, with the usual error handling."""
    if len(steps) < 2:
        return steps
    left: list[Step] = []
    for i in range(0, len(steps), LEASE_BATCH):
        chunk = steps[i:i + LEASE_BATCH]
        keys = sorted({st.params["ecsService"] for st in chunk})
        locks = [f"ecs#{k}" for k in keys]
        if not ctx.state.acquire_many(locks, ctx.holder):
            left += chunk
            continue
        try:
            seen: dict[str, dict] = {}
            for cluster in sorted({k.split("/", 1)[0] for k in keys}):
                names = [k.split("/", 1)[1] for k in keys if k.split("/", 1)[0] == cluster]
                seen.update({f"{cluster}/{n}": d for n, d in _describe(ctx, cluster, names).items()})
            left += _attach_chunk(chunk, ctx, seen)
        finally:
            ctx.state.release_many(locks, ctx.holder)
    return left


def _attach_chunk(chunk: list[Step], ctx: ApplyContext, seen: dict[str, dict]) -> list[Step]:
    """A chunk's attachments, its ECS services side by side (the pacer keeps their UpdateService calls within ECS's
    rate however many chunks run at once; the leases are held until the last ends). Two entries on one ECS service
    go one after the other: each UpdateService writes the service's whole list, as the one before left it (`seen`).
    Returns the steps that failed, for the one-by-one path."""
    by_service: dict[str, list[Step]] = {}
    for st in chunk:
        by_service.setdefault(st.params["ecsService"], []).append(st)

    def attach(steps: list[Step]) -> list[Step]:
        failed = []
        for st in steps:
            try:
                attach_ecs(st, ctx, seen.setdefault(st.params["ecsService"], {}))
            except Exception:  # noqa: BLE001 - the one-by-one path reports it, with its lease
                failed.append(st)
        return failed

    with ThreadPoolExecutor(min(ATTACHERS, len(by_service)), thread_name_prefix="portico-ecs") as pool:
        return [st for failed in pool.map(attach, by_service.values()) for st in failed]


def detach_ecs(step: Step, ctx: ApplyContext) -> None:
    verify = step.params.get("verify") or {}
    drop = {arn for arn in step.params["targetGroups"]
            if arn not in verify or ctx.made_by_portico(step.service, arn, verify[arn])}
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


APPLY = {"check_container": check_container, "attach_ecs": attach_ecs, "detach_ecs": detach_ecs}
BATCH = {"attach_ecs": attach_many}
CHUNKS = {"attach_ecs": LEASE_BATCH}  # a run of attachments splits into independent chunks of this many: side by side
