"""The deployment: one CreateDeployment of the reconciled stage per pass, when the REST API changed (or a
pass that changed it crashed before deploying)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..context import ApplyContext
from ..errors import error_text
from ..observed import Observed
from ..settings import Settings
from ..steps import API_ACTIONS, Plan, Step


def plan_pass(plan: Plan, obs: Observed, settings: Settings, region: str) -> list[Step]:
    pending = bool((obs.state.deploys.get(settings.stage) or {}).get("pending"))
    if not pending and not any(st.action in API_ACTIONS for st in plan.steps):
        return []
    changed = sorted({st.service for st in plan.steps if st.service != "*"})
    return [Step("deploy", "*", {
        "stage": settings.stage, "pending": pending,
        "description": ("portico: " + ", ".join(changed))[:1000] if changed else "portico: resume"})]


def deploy(step: Step, ctx: ApplyContext) -> None:
    """Only when a step of this pass changed the API (or an earlier pass left the deployment pending). A
    failure is the pass's error, not a service's: the pending mark makes the next pass deploy."""
    if not (ctx.api_touched or step.params.get("pending")):
        return
    stage = step.params["stage"]
    last = float((ctx.observed.state.deploys.get(stage) or {}).get("at") or 0)
    wait = last + ctx.settings.deploy_interval_seconds - ctx.clock()
    if wait > 0:  # CreateDeployment allows 1 per 5 s per account
        ctx.sleep(wait)
    try:
        dep = ctx.clients.apigateway.create_deployment(restApiId=ctx.settings.rest_api_id, stageName=stage,
                                                       description=step.params.get("description", "portico"))
    except ClientError as exc:
        ctx.result.errors.append(f"deploy to {stage} failed: {error_text(exc)}; the next reconcile retries it")
        return
    ctx.result.deployment_id = dep["id"]
    pool = {arn: lb.vpc_link for arn, lb in ctx.observed.load_balancers.items()}  # the links this pass planned on
    ledgers = {**ctx.observed.state.ledgers, **ctx.ledgers}  # this pass's (None: offboarded) win
    links = sorted({pool[ledger.load_balancer] for ledger in ledgers.values()
                    if ledger and ledger.path and ledger.load_balancer in pool})
    ctx.state.record_deploy(stage, dep["id"], ctx.clock(), links, ctx.observed.state.deploys.get(stage))


APPLY = {"deploy": deploy}
