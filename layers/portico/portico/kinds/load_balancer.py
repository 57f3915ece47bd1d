"""The pool grows itself: when no load balancer of the pool has room for a service (NLB: 50 listeners; ALB:
RulesPerAlb rules), portico adds the next one, up to MaxLoadBalancers, and deletes the ones it added once empty.
The template's (the configured ones, PORTICO_LOAD_BALANCER_ARNS) are never added or deleted here.

An added load balancer is internal, in the subnets and security groups of the pool's first one, of its type
(an ALB gets an HTTP listener on the port of the configured one, answering 404 when no rule matches). It is
recorded in the state table (`pool#<name>`: index, type, nonce) before it is created, and carries the token of
that record's nonce (`steps.token`): a crash after the create leaves a record whose next create returns the same
load balancer (CreateLoadBalancer is idempotent for a name with the same settings: https://docs.aws.amazon.com/
elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html), and only a load balancer with the token
is ever deleted. Only on a VPC link v2, which reaches any load balancer of the VPC (each integration names its
own, integrationTarget): a VPC link v1 targets one NLB and takes minutes to create, so a v1 pool is the
configured one (docs/modes.md).

A service that does not fit waits (`slots.Waiting`): an `await_load_balancer` step, last of the pass, waits up
to WAIT_SECONDS for its load balancer to be active. Active, the pass plans the service again on it (a round of
its own, as after a lost race: ConflictKind.ACTIVE; after a round that only added load balancers it keeps that
round's read of the API: reconcile.POOL_ONLY) and routes it; still provisioning, it leaves the service
PENDING ("load balancer provisioning"), to retry: the stream trigger reports its record failed, Lambda delivers
it again (up to the mapping's MaximumRetryAttempts;
https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html), and that pass routes it on
the active load balancer (or waits again while AWS still provisions it); the sweeper takes PENDING entries
first, whatever their shard.
A pass within a Lambda cannot wait the minutes AWS may take, nor hold its other services that long.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from typing import Any

from botocore.exceptions import ClientError

from ..context import ApplyContext
from ..errors import StepError, error_code, is_not_found
from ..observed import LoadBalancer, Observed, read_tags
from ..settings import Settings
from ..slots import members
from ..state import TOKEN_TAG, Conflict, ConflictKind, token
from ..steps import Plan, Step

AWAIT = "await_load_balancer"
WAIT_SECONDS = 45.0  # of a pass, for a load balancer it added to become active (within the stream's 240 s budget)
POLL_SECONDS = 5.0


def member_name(stack: str, index: int) -> str:
    """The name of the pool's member `index` that portico adds: ≤ 32 characters of [A-Za-z0-9-], unique per
    account and Region (a short hash of the stack's name), not starting with "internal-" (AWS's naming rules)."""
    base = "".join(c if c.isalnum() else "-" for c in stack)[:18].strip("-")
    return f"pt-{base}-{hashlib.sha1(stack.encode()).hexdigest()[:4]}-{index}"


def _active(member: dict[str, Any], obs: Observed) -> bool:
    lb = obs.load_balancers.get(member.get("arn") or "")
    return lb is not None and lb.state == "active"


def plan_pass(plan: Plan, obs: Observed, settings: Settings, region: str) -> list[Step]:
    if settings.link_version != "v2":
        return []
    made = members(obs)
    first = obs.load_balancers.get(settings.load_balancer_arns[0]) if settings.load_balancer_arns else None
    # a record without an ARN is a create cut short: created again (the same load balancer, by its name)
    steps = [_create(m["name"], int(m["index"]), first, settings) for m in made if not m.get("arn") and first]
    adding = [m["name"] for m in made if not _active(m, obs)]
    waiting = [st for st in plan.steps if st.action == AWAIT]
    per = settings.services_per_load_balancer
    need = math.ceil(max(0, len(waiting) - per * len(adding)) / per)
    room = settings.pool_size - len(settings.load_balancer_arns) - len(made)
    last = max((int(m["index"]) for m in made), default=len(settings.load_balancer_arns))
    new = [member_name(settings.stack, last + i) for i in range(1, min(need, room) + 1)] if first else []
    steps += [_create(name, last + i, first, settings) for i, name in enumerate(new, 1)]
    names = adding + new
    for i, st in enumerate(waiting):
        if i < per * len(names):
            st.params["loadBalancer"] = names[i // per]
        else:
            plan.steps.remove(st)
            plan.failed[st.service] = (
                f"{'listenerRule' if settings.backend == 'alb' else 'listenerPort'}: no load balancer of the pool "
                f"has room for it and the pool is at MaxLoadBalancers ({settings.pool_size}) with this pass's; "
                "raise MaxLoadBalancers (and the account's load balancers per Region quota, 50 by default), "
                "or offboard a service")
    return steps + _emptied(plan, obs, made, set(names))


def _create(name: str, index: int, first: LoadBalancer, settings: Settings) -> Step:
    port = next((li.port for li in first.listeners.values() if li.arn == settings.alb_listener_arn), 80)
    return Step("create_load_balancer", "*", {"loadBalancerName": name, "index": index, "type": first.type,
                                              "subnets": list(first.subnets),
                                              "securityGroups": list(first.security_groups), "port": port})


def _emptied(plan: Plan, obs: Observed, made: list[dict[str, Any]], awaited: set[str]) -> list[Step]:
    """The added load balancers that hold no service once this pass is applied: no listener (NLB) or rule (ALB)
    and no reservation on them but the offboarded services'. One deleted outside portico is forgotten alike."""
    gone = {st.params.get("listenerArn") or st.params.get("ruleArn") for st in plan.steps
            if st.action in ("delete_listener", "delete_rule")}
    out = []
    for m in made:
        lb = obs.load_balancers.get(m.get("arn") or "")
        if not m.get("arn") or m["name"] in awaited or (lb is not None and lb.state != "active"):
            continue
        used = lb is not None and any((li.arn != m.get("listenerArn") and li.arn not in gone) or
                                      set(li.rules) - gone for li in lb.listeners.values())
        held = any(owner not in plan.removed and (a == m["arn"] or a == m.get("listenerArn"))
                   for (a, _), owner in (*obs.state.ports.items(), *obs.state.priorities.items()))
        if not used and not held:
            out.append(Step("delete_load_balancer", "*", {"loadBalancerName": m["name"], "arn": m["arn"]}))
    return out


def _tags(ctx: ApplyContext, name: str, nonce: str) -> list[dict[str, str]]:
    return [{"Key": "portico:stack", "Value": ctx.settings.stack}, {"Key": "portico:pool", "Value": name},
            {"Key": TOKEN_TAG, "Value": token(nonce, name)}]


def create_load_balancer(step: Step, ctx: ApplyContext) -> None:
    p, elbv2 = step.params, ctx.clients.elbv2
    name = p["loadBalancerName"]
    # recorded before the create (a crash leaves a record to finish); a pass that recorded it first is followed
    record = dict(ctx.observed.state.pool.get(name) or ctx.state.add_pool_member(
        {"name": name, "index": p["index"], "type": p["type"], "nonce": uuid.uuid4().hex}))
    try:
        lb = elbv2.create_load_balancer(
            Name=name, Subnets=p["subnets"], Scheme="internal", Type=p["type"], IpAddressType="ipv4",
            Tags=_tags(ctx, name, record["nonce"]),
            **({"SecurityGroups": p["securityGroups"]} if p["securityGroups"] else {}))["LoadBalancers"][0]
    except ClientError as exc:
        if error_code(exc) != "TooManyLoadBalancers":
            raise
        raise StepError(f"adding load balancer {name} to the pool: the account's quota of {p['type']} load "
                        "balancers per Region is reached (50 by default, https://docs.aws.amazon.com/"
                        "elasticloadbalancing/latest/network/load-balancer-limits.html); raise it in Service "
                        "Quotas, or lower MaxLoadBalancers") from None
    record["arn"] = lb["LoadBalancerArn"]
    if p["type"] == "network":  # as the template's NLBs: every zone's targets serve every zone
        elbv2.modify_load_balancer_attributes(LoadBalancerArn=record["arn"], Attributes=[
            {"Key": "load_balancing.cross_zone.enabled", "Value": "true"}])
    else:
        record["listenerArn"] = elbv2.create_listener(
            LoadBalancerArn=record["arn"], Protocol="HTTP", Port=p["port"], Tags=_tags(ctx, name, record["nonce"]),
            DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
                "StatusCode": "404", "ContentType": "application/json",
                "MessageBody": '{"message": "Not Found"}'}}])["Listeners"][0]["ListenerArn"]
    ctx.state.record_pool_member(record)
    ctx.observed.state.pool[name] = record  # for this pass's await steps


def await_load_balancer(step: Step, ctx: ApplyContext) -> None:
    """Wait (once a pass per load balancer) for the one the service waits for; the service is retried either
    way: the next pass plans it on the load balancer once active."""
    name = step.params.get("loadBalancer", "")
    record = ctx.observed.state.pool.get(name) or {}
    if not record.get("arn"):
        why = next((e for e in ctx.result.errors if name and name in e), "not created yet")
        ctx.result.retry[step.service] = f"load balancer provisioning: {name}: {why}"
        return
    if "seen" not in record:
        record["seen"] = _wait_active(ctx, record["arn"])
    if record["seen"] == "active":  # this pass plans the service again, on it (reconcile's next round)
        raise Conflict(ConflictKind.ACTIVE, name, None)
    else:
        ctx.result.retry[step.service] = f"load balancer provisioning: {name} is {record['seen']}; portico routes " \
                                         "the service on it once it is active (AWS may take minutes)"


def _wait_active(ctx: ApplyContext, arn: str) -> str:
    waited, state = 0.0, ""
    while True:
        try:
            lbs = ctx.clients.elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]
            state = (lbs[0].get("State") or {}).get("Code", "")
        except ClientError as exc:
            if not is_not_found(exc):
                raise
            return "gone"
        if state in ("active", "failed") or waited >= WAIT_SECONDS:
            return state
        ctx.sleep(POLL_SECONDS)
        waited += POLL_SECONDS


def delete_load_balancer(step: Step, ctx: ApplyContext) -> None:
    """Delete an added load balancer (its listener with it) once its token proves it is the one portico made;
    forget the record."""
    name, arn = step.params["loadBalancerName"], step.params["arn"]
    nonce = (ctx.observed.state.pool.get(name) or {}).get("nonce")
    try:
        tags = read_tags(ctx.clients.elbv2, arn)
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        tags = None  # deleted outside portico: only the record is left
    if tags is not None:
        if not nonce or tags.get(TOKEN_TAG) != token(nonce, name):
            raise StepError(f"load balancer {name} ({arn}) does not carry the token of portico's record of it; "
                            "it is left in place")
        try:
            ctx.clients.elbv2.delete_load_balancer(LoadBalancerArn=arn)
        except ClientError as exc:
            if not is_not_found(exc):
                raise
    ctx.state.drop_pool_member(name)


APPLY = {"create_load_balancer": create_load_balancer, "delete_load_balancer": delete_load_balancer,
         AWAIT: await_load_balancer}
