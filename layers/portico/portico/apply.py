"""Apply a plan: steps in ORDER, ensure-style, each by its kind's function; one failure stops only the
service it belongs to."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from .clients import Clients
from .errors import StepError, error_text, is_transient
from .kinds import alarms, api, dashboard, deployment, ecs, listener, reservation, stage, target_group
from .observed import Observed
from .settings import Settings
from .state import Conflict, StateTable
from .steps import API_ACTIONS, ApplyContext, ApplyResult, Plan

log = logging.getLogger("portico.apply")
KINDS = (reservation, target_group, listener, api, ecs, alarms, deployment, stage, dashboard)
APPLY = {action: function for kind in KINDS for action, function in kind.APPLY.items()}  # action -> f(step, ctx)


class Applier:
    def __init__(self, clients: Clients, settings: Settings, state: StateTable, observed: Observed, *,
                 sleep=time.sleep, clock=time.time, on_step: Callable[[int, int], None] | None = None):
        self.ctx = ApplyContext(clients, settings, state, observed, sleep=sleep, clock=clock)
        self.on_step = on_step or (lambda done, total: None)  # progress: steps done of the plan's total

    def run(self, plan: Plan) -> ApplyResult:
        ctx, result = self.ctx, self.ctx.result
        plan.sort()
        dirty: set[str] = set()
        try:
            for done, step in enumerate(plan.steps):
                self.on_step(done, len(plan.steps))
                if step.service in result.stopped():
                    continue
                if step.action in API_ACTIONS:
                    ctx.touch_api()
                try:
                    APPLY[step.action](step, ctx)
                    dirty.add(step.service)
                except Conflict as exc:
                    result.conflicts[step.service] = exc
                except (ClientError, BotoCoreError, StepError) as exc:
                    msg = f"{step.action.replace('_', ' ')} failed: {error_text(exc)}"
                    log.warning("step failed", extra={"step": step.to_json(), "error": msg})
                    if step.service == "*":
                        result.errors.append(msg)
                    elif is_transient(exc):
                        result.retry[step.service] = msg
                    else:
                        result.failed[step.service] = msg
            self.on_step(len(plan.steps), len(plan.steps))
        finally:
            result.target_groups = dict(ctx.tg_arns)
            for service in sorted(dirty - {"*"}):
                ledger = ctx.ledgers.get(service)
                if ledger is not None:
                    ctx.state.save_ledger(ledger)
        return result
