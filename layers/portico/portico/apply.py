"""Apply a plan: steps in ORDER, ensure-style, each by its kind's function; one failure stops only the
service it belongs to."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from .clients import Clients
from .errors import StepError, error_text, is_transient
from .kinds import (
    alarms,
    api,
    dashboard,
    deployment,
    ecs,
    listener,
    reservation,
    routes_import,
    stage,
    target_group,
)
from .observed import Observed
from .settings import Settings
from .state import Conflict, StateTable
from .steps import API_ACTIONS, ApplyContext, ApplyResult, Plan, Step

log = logging.getLogger("portico.apply")
KINDS = (reservation, target_group, listener, api, routes_import, ecs, alarms, deployment, stage, dashboard)
APPLY = {action: function for kind in KINDS for action, function in kind.APPLY.items()}  # action -> f(step, ctx)
# action -> f(steps, ctx) -> the steps it left: a run of one action done at once where a kind can (one
# transaction for many reservations, for many ECS leases); what it leaves goes one by one.
BATCH = {action: function for kind in KINDS for action, function in getattr(kind, "BATCH", {}).items()}


class Applier:
    def __init__(self, clients: Clients, settings: Settings, state: StateTable, observed: Observed, *,
                 sleep=time.sleep, clock=time.time, on_step: Callable[[int, int], None] | None = None):
        self.ctx = ApplyContext(clients, settings, state, observed, sleep=sleep, clock=clock)
        self.on_step = on_step or (lambda done, total: None)  # progress: steps done of the plan's total

    def run(self, plan: Plan) -> ApplyResult:
        ctx, result = self.ctx, self.ctx.result
        plan.sort()
        dirty: set[str] = set()
        steps, i = plan.steps, 0
        try:
            while i < len(steps):
                self.on_step(i, len(steps))
                j = i + 1
                while steps[i].action in BATCH and j < len(steps) and steps[j].action == steps[i].action:
                    j += 1
                todo = [st for st in steps[i:j] if st.service not in result.stopped()]
                if len(todo) > 1:
                    try:
                        left = BATCH[steps[i].action](todo, ctx)
                    except (ClientError, BotoCoreError):  # e.g. throttled past retries: one by one says whose
                        left = todo
                    dirty.update(st.service for st in todo if all(st is not lt for lt in left))
                    todo = left
                for step in todo:
                    if step.service not in result.stopped() and self._one(step):
                        dirty.add(step.service)
                        dirty.update(step.params.get("services") or ())  # a pass-wide step's services
                i = j
            self.on_step(len(steps), len(steps))
        finally:
            result.target_groups = dict(ctx.tg_arns)
            ctx.state.save_ledgers([led for s in sorted(dirty - {"*"}) if (led := ctx.ledgers.get(s)) is not None])
        return result

    def _one(self, step: Step) -> bool:
        """Apply one step; a failure stops only its service (a pass-wide step's is the pass's error)."""
        ctx, result = self.ctx, self.ctx.result
        if step.action in API_ACTIONS:
            ctx.touch_api()
        try:
            APPLY[step.action](step, ctx)
            return True
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
        return False
