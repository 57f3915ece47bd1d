"""ALB mode: one listener rule per service on the ALB's listener, at its reserved priority, matching the
header its integrations set (SERVICE_HEADER = the service's name and its token, `slots.header_value`) and
forwarding to its target group.

A rule is portico's when its ARN is in the service's ledger, or when it sits at the service's reserved
priority and carries the token of the ledger's nonce (a rule created by a pass that crashed before saving
its ledger; tags alone, which anyone can copy, never make a rule portico's). Any other rule, and any other
listener, is never touched.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..context import ApplyContext
from ..desired import DesiredService
from ..errors import StepError, error_code, is_not_found
from ..observed import Listener, Observed, Rule
from ..settings import SERVICE_HEADER
from ..slots import header_value, rule_conditions
from ..state import Conflict, ConflictKind
from ..steps import Step


def conditions(value: str) -> list[dict[str, Any]]:
    return [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": SERVICE_HEADER, "Values": [value]}}]


def _listener(obs: Observed, arn: str | None) -> Listener | None:
    return next((li for lb in obs.load_balancers.values() for li in lb.listeners.values() if li.arn == arn), None)


def _ours(service: str, obs: Observed, listener: Listener | None, priority: int | None) -> tuple[Rule | None, bool]:
    """The service's rule on `listener`: (rule, known), known = its ARN is in the ledger (else it is the rule at
    the reserved priority, whose tags are checked before it is changed)."""
    if listener is None:
        return None, False
    ledger = obs.state.ledgers.get(service)
    if ledger and ledger.rule_arn in listener.rules:
        return listener.rules[ledger.rule_arn], True
    return next((r for r in listener.rules.values() if r.priority == priority), None), False


def plan(d: DesiredService, obs: Observed) -> list[Step]:
    if d.priority is None:
        return []
    rule, known = _ours(d.service, obs, _listener(obs, d.listener_arn), d.priority)
    header = header_value(d.service, obs.state.header_secret)
    params = {"listenerArn": d.listener_arn, "priority": d.priority, "targetGroup": d.target_group_name,
              "header": header}
    if rule is None:
        return [Step("create_rule", d.service, params)]
    tg = obs.target_groups.get(d.target_group_name)
    wanted = rule_conditions(d.service, obs.state.header_secret)
    if not known or tg is None or rule.target_group_arns != (tg.arn,) or rule.conditions != wanted \
            or rule.priority != d.priority:
        return [Step("modify_rule", d.service, {**params, "ruleArn": rule.arn, "known": known,
                                                "move": rule.priority != d.priority})]
    return []


def plan_removal(service: str, obs: Observed) -> list[Step]:
    ledger = obs.state.ledgers[service]
    held = {li for (li, _), owner in obs.state.priorities.items() if owner == service}
    listener = next((li for lb in obs.load_balancers.values() for li in lb.listeners.values()
                     if ledger.rule_arn in li.rules or li.arn in held), None)
    rule, known = _ours(service, obs, listener, ledger.priority)
    if rule is None:
        return []
    return [Step("delete_rule", service, {"ruleArn": rule.arn, "priority": rule.priority, "known": known})]


RULE = "listener rule"  # the identity of the service's one rule in its token (its priority may move)


def _check_tags(step: Step, ctx: ApplyContext) -> None:
    if step.params.get("known"):
        return
    if not ctx.made_by_portico(step.service, step.params["ruleArn"], RULE):  # its token, not its tags
        raise StepError(f"rule priority {step.params['priority']} on the ALB listener has a rule portico did not "
                        f"create ({step.params['ruleArn']}; its state table has no record of it, whatever its tags); "
                        "remove it, or re-write the entry so that portico picks another priority")


def _forward(ctx: ApplyContext, target_group: str) -> list[dict[str, str]]:
    return [{"Type": "forward", "TargetGroupArn": ctx.tg_arns[target_group]}]


def create_rule(step: Step, ctx: ApplyContext) -> None:
    p = step.params
    try:
        rule = ctx.clients.elbv2.create_rule(
            ListenerArn=p["listenerArn"], Priority=p["priority"], Conditions=conditions(p["header"]),
            Actions=_forward(ctx, p["targetGroup"]), Tags=ctx.tags(step.service, RULE))["Rules"][0]
    except ClientError as exc:
        if error_code(exc) != "PriorityInUse":
            raise
        # A rule made at the reserved priority since the plan: a lost slot, re-planned on another priority.
        # (PriorityInUse, HTTP 400: an error of CreateRule in botocore's elbv2 model; AWS's API reference lists
        # it with "The specified priority is in use." for SetRulePriorities: https://docs.aws.amazon.com/
        # elasticloadbalancing/latest/APIReference/API_SetRulePriorities.html; moto raises it too.)
        raise Conflict(ConflictKind.PRIORITY, f"rule priority {p['priority']}", "a rule made since the plan") from None
    ctx.ledger(step.service).rule_arn = rule["RuleArn"]


def modify_rule(step: Step, ctx: ApplyContext) -> None:
    p = step.params
    _check_tags(step, ctx)
    elbv2 = ctx.clients.elbv2
    if p.get("move"):
        elbv2.set_rule_priorities(RulePriorities=[{"RuleArn": p["ruleArn"], "Priority": p["priority"]}])
    elbv2.modify_rule(RuleArn=p["ruleArn"], Conditions=conditions(p["header"]),
                      Actions=_forward(ctx, p["targetGroup"]))
    ctx.ledger(step.service).rule_arn = p["ruleArn"]


def delete_rule(step: Step, ctx: ApplyContext) -> None:
    _check_tags(step, ctx)
    try:
        ctx.clients.elbv2.delete_rule(RuleArn=step.params["ruleArn"])
    except ClientError as exc:
        if not is_not_found(exc):
            raise
    ctx.ledger(step.service).rule_arn = None


APPLY = {"create_rule": create_rule, "modify_rule": modify_rule, "delete_rule": delete_rule}
