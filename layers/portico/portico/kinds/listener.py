"""Listeners: one TCP listener per service on its reserved port, forwarding to its target group (NLB mode; in
ALB mode the template's one listener holds a rule per service, see listener_rule)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..context import ApplyContext
from ..desired import DesiredService
from ..errors import StepError, error_code, is_not_found
from ..observed import Observed
from ..state import Conflict, ConflictKind
from ..steps import Step


def plan(d: DesiredService, obs: Observed) -> list[Step]:
    if d.priority is not None:
        return []
    tg = obs.target_groups.get(d.target_group_name)
    listener = obs.load_balancers[d.load_balancer].listeners.get(d.port)
    if listener is None:
        return [Step("create_listener", d.service, {"loadBalancer": d.load_balancer, "port": d.port,
                                                    "targetGroup": d.target_group_name})]
    ledger = obs.state.ledgers.get(d.service)
    known = ledger is not None and listener.arn == ledger.listener_arn
    if tg is None or listener.target_group_arns != (tg.arn,) or not known:  # an unknown one: adopted if it is ours
        return [Step("modify_listener", d.service, {"listenerArn": listener.arn, "port": d.port,
                                                    "targetGroup": d.target_group_name})]
    return []


def plan_removal(service: str, obs: Observed) -> list[Step]:
    """The listener on the ledger's port, when it is portico's: the one it created, or one that forwards only
    to the service's target groups and carries the ledger's token (`verify`: a create cut short)."""
    ledger = obs.state.ledgers[service]
    lb = obs.load_balancers.get(ledger.load_balancer or "")
    listener = lb.listeners.get(ledger.port) if lb and ledger.port else None
    tgs = {arn for arn in obs.ledger_target_groups(ledger).values() if arn}
    if listener and listener.arn == ledger.listener_arn:
        return [Step("delete_listener", service, {"listenerArn": listener.arn, "port": ledger.port})]
    if listener and set(listener.target_group_arns) <= tgs:
        return [Step("delete_listener", service, {"listenerArn": listener.arn, "port": ledger.port, "verify": True})]
    return []


def _identity(port: int) -> str:
    return f"listener port {port}"


def _forward(ctx: ApplyContext, target_group: str) -> list[dict[str, str]]:
    return [{"Type": "forward", "TargetGroupArn": ctx.tg_arns[target_group]}]


def create_listener(step: Step, ctx: ApplyContext) -> None:
    p = step.params
    try:
        li = ctx.clients.elbv2.create_listener(
            LoadBalancerArn=p["loadBalancer"], Protocol="TCP", Port=p["port"],
            DefaultActions=_forward(ctx, p["targetGroup"]), Tags=ctx.tags(step.service, _identity(p["port"])))
        li = li["Listeners"][0]
    except ClientError as exc:
        if error_code(exc) != "DuplicateListener":
            raise
        # Someone made a listener on the reserved port since the plan: a lost slot, re-planned on another port.
        # (DuplicateListener, HTTP 400: an error of CreateListener in botocore's elbv2 model; the emulator enforces
        # it, portico_cli/local_aws/emulator/elbv2.py.)
        raise Conflict(ConflictKind.PORT, f"port {p['port']}", "a listener made since the plan") from None
    ctx.ledger(step.service).listener_arn = li["ListenerArn"]


def modify_listener(step: Step, ctx: ApplyContext) -> None:
    p = step.params
    if ctx.ledger(step.service).listener_arn != p["listenerArn"] and \
            not ctx.made_by_portico(step.service, p["listenerArn"], _identity(p["port"])):
        raise StepError(f"port {p['port']} on the load balancer has a listener portico did not create "
                        f"({p['listenerArn']}; its state table has no record of it, whatever its tags); remove that "
                        "listener, then re-write the entry")
    ctx.clients.elbv2.modify_listener(ListenerArn=p["listenerArn"], DefaultActions=_forward(ctx, p["targetGroup"]))
    ctx.ledger(step.service).listener_arn = p["listenerArn"]


def delete_listener(step: Step, ctx: ApplyContext) -> None:
    if step.params.get("verify") and not ctx.made_by_portico(step.service, step.params["listenerArn"],
                                                             _identity(step.params["port"])):
        return  # not portico's: left alone
    try:
        ctx.clients.elbv2.delete_listener(ListenerArn=step.params["listenerArn"])
    except ClientError as exc:
        if not is_not_found(exc):
            raise
    ctx.ledger(step.service).listener_arn = None


APPLY = {"create_listener": create_listener, "modify_listener": modify_listener, "delete_listener": delete_listener}
