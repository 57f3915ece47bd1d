"""Target groups: one per service (named by `desired.target_group_name`), tagged as portico's."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..context import ApplyContext
from ..desired import DesiredService
from ..errors import StepError, error_code, is_not_found
from ..observed import Observed
from ..spec import HEALTH_CHECK_ATTRIBUTES
from ..state import Ledger
from ..steps import Step


def plan(d: DesiredService, obs: Observed) -> list[Step]:
    s, steps = d.service, []
    ledger = obs.state.ledgers.get(s)
    tg = obs.target_groups.get(d.target_group_name)
    hc_protocol, hc_path = d.health
    hc = d.spec.health_check
    timing = {"healthCheckIntervalSeconds": hc.interval, "healthCheckTimeoutSeconds": hc.timeout,
              "healthyThresholdCount": hc.healthy, "unhealthyThresholdCount": hc.unhealthy}
    params = {"name": d.target_group_name, "port": d.spec.container_port, "targetType": d.target_type,
              "healthCheckProtocol": hc_protocol, "healthCheckPath": hc_path, **timing}
    if d.priority is not None:
        params["protocol"] = "HTTP"  # ALB mode: an ALB forwards HTTP to its target groups
    if tg is None:
        steps.append(Step("create_target_group", s, params))
    else:
        if not ledger or tg.arn not in ledger.target_groups.values():  # whose it is is checked when applied
            steps.append(Step("adopt_target_group", s, {"name": tg.name, "arn": tg.arn}))
        if tg.health_protocol != hc_protocol or (hc_path and tg.health_path != hc_path) or (
                tg.health_timing is not None and tg.health_timing != tuple(timing.values())):
            steps.append(Step("modify_target_group", s, params))
    for name, arn in sorted(obs.ledger_target_groups(ledger).items()):
        if name != d.target_group_name and arn:  # replaced (port or target type changed)
            steps.append(_delete(s, name, arn, ledger))
    return steps


def plan_removal(service: str, obs: Observed) -> list[Step]:
    ledger = obs.state.ledgers[service]
    return [_delete(service, name, arn, ledger) for name, arn in sorted(obs.ledger_target_groups(ledger).items())
            if arn and name in obs.target_groups]


def _delete(service: str, name: str, arn: str, ledger: Ledger) -> Step:
    """Delete a target group of the ledger; one it names without an ARN (a create cut short) only once its token
    shows portico made it (`verify`): a look-alike of the same name is left alone."""
    unknown = arn not in ledger.target_groups.values()
    return Step("delete_target_group", service, {"name": name, "arn": arn, **({"verify": True} if unknown else {})})


def _health(p: dict[str, Any]) -> dict[str, Any]:
    """The health check's arguments; its timing params are named as AWS's with a lower-case first letter."""
    args: dict[str, Any] = {"HealthCheckProtocol": p["healthCheckProtocol"], "HealthCheckEnabled": True,
                            **{k[:1].upper() + k[1:]: p[k] for k in HEALTH_CHECK_ATTRIBUTES}}
    if p.get("healthCheckPath"):
        args["HealthCheckPath"] = p["healthCheckPath"]
    return args


def adopt_target_group(step: Step, ctx: ApplyContext) -> None:
    """A target group of the service's name that the ledger has no ARN for: portico's only when the ledger
    recorded the name before creating it and the group carries the ledger's token (a create cut short by a
    crash). Anything else (a look-alike, with copied tags or not) is refused and never modified or deleted."""
    arn, name = step.params["arn"], step.params["name"]
    if name not in ctx.ledger(step.service).target_groups or not ctx.made_by_portico(step.service, arn, name):
        raise StepError(f"target group {name} ({arn}) exists but portico did not create it (its state table has no "
                        f"record of it); delete or rename that target group, then re-write the entry")
    ctx.ledger(step.service).target_groups[name] = arn


def create_target_group(step: Step, ctx: ApplyContext) -> None:
    p = step.params
    ledger = ctx.ledger(step.service)
    if p["name"] not in ledger.target_groups:  # the name is deterministic: record it, ARN to follow
        ledger.target_groups[p["name"]] = ""
        ctx.write_ahead(step.service)
    tg = ctx.clients.elbv2.create_target_group(
        Name=p["name"], Protocol=p.get("protocol", "TCP"), Port=p["port"], VpcId=ctx.settings.vpc_id,
        TargetType=p["targetType"],
        Tags=ctx.tags(step.service, p["name"]), **_health(p))["TargetGroups"][0]
    ctx.tg_arns[p["name"]] = tg["TargetGroupArn"]
    ctx.ledger(step.service).target_groups[p["name"]] = tg["TargetGroupArn"]


def modify_target_group(step: Step, ctx: ApplyContext) -> None:
    ctx.clients.elbv2.modify_target_group(TargetGroupArn=ctx.tg_arns[step.params["name"]], **_health(step.params))


def delete_target_group(step: Step, ctx: ApplyContext) -> None:
    arn = step.params["arn"]
    if step.params.get("verify") and not ctx.made_by_portico(step.service, arn, step.params["name"]):
        ctx.ledger(step.service).target_groups.pop(step.params["name"], None)  # never created: forget the intent
        return
    for attempt in range(6):  # the listener or ECS detach that used it may still be settling
        try:
            ctx.clients.elbv2.delete_target_group(TargetGroupArn=arn)
            break
        except ClientError as exc:
            if is_not_found(exc):
                break
            if error_code(exc) != "ResourceInUse" or attempt == 5:
                raise
            ctx.sleep(min(2 ** attempt, 10))
    ctx.ledger(step.service).target_groups.pop(step.params["name"], None)


APPLY = {"adopt_target_group": adopt_target_group, "create_target_group": create_target_group,
         "modify_target_group": modify_target_group, "delete_target_group": delete_target_group}
