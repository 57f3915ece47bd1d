"""Apply a plan: steps in ORDER, ensure-style, each by its kind's function; one failure stops only the
service it belongs to."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

from .clients import Clients
from .context import ApplyContext, ApplyResult
from .errors import StepError, error_text, is_transient
from .kinds import APPLY, BATCH
from .observed import Observed
from .settings import Settings
from .state import Conflict, StateTable
from .steps import API_ACTIONS, Plan, Step

log = logging.getLogger("portico.apply")


class Applier:
    def __init__(self, clients: Clients, settings: Settings, state: StateTable, observed: Observed, *,
                 sleep=time.sleep, clock=time.time, on_step: Callable[[int, int], None] | None = None,
                 deadline: float | None = None):
        def waited(seconds: float) -> None:  # a step that waits keeps the pass's claims alive
            sleep(seconds)
            self.ctx.heartbeat()

        self.ctx = ApplyContext(clients, settings, state, observed, sleep=waited, clock=clock)
        self.on_step = on_step or (lambda done, total: None)  # progress: steps done of the plan's total
        self.deadline = deadline  # (clock) no step starts past it; the services left are retried

    def run(self, plan: Plan) -> ApplyResult:
        ctx, result = self.ctx, self.ctx.result
        plan.sort()
        steps, i = plan.steps, 0
        try:
            self._claim_all(steps)
            while i < len(steps):
                self.on_step(i, len(steps))
                if self.deadline is not None and ctx.clock() >= self.deadline:
                    for st in steps[i:]:
                        if st.service != "*" and st.service not in result.stopped():
                            result.retry[st.service] = "the pass ran out of time (the Lambda's timeout was near) " \
                                                       "before this service's last steps; the next pass finishes"
                    break  # an API change made is deployed by the next pass (the pending mark)
                ctx.heartbeat()
                j = i + 1
                while steps[i].action in BATCH and j < len(steps) and steps[j].action == steps[i].action:
                    j += 1
                todo = [st for st in steps[i:j] if st.service not in result.stopped()]
                if len(todo) > 1:
                    try:
                        left = BATCH[steps[i].action](todo, ctx)
                    except (ClientError, BotoCoreError):  # e.g. throttled past retries: one by one says whose
                        left = todo
                    todo = left
                for step in todo:
                    if step.service not in result.stopped():
                        self._guard(step, lambda step=step: self._apply(step))
                i = j
            self.on_step(len(steps), len(steps))
        finally:
            result.target_groups = dict(ctx.tg_arns)
            held = [ctx.ledgers[s] for s in sorted(ctx.claimed) if ctx.ledgers.get(s) is not None]
            if held:
                ctx.state.unclaim_many(held, ctx.holder)
        return result

    def _claim_all(self, steps: list[Step]) -> None:
        """Claim every service the plan changes (a pass-wide step's services too); one that another pass holds
        or changed is stopped here, before any of its steps, and re-planned."""
        first: dict[str, Step] = {}
        for st in steps:
            for service in (st.params.get("services") or ()) if st.service == "*" else (st.service,):
                first.setdefault(service, st)
        if first:
            lost = self._guard(steps[0], lambda: self.ctx.claim_all(list(first)), service="*")
            for service, conflict in (lost if isinstance(lost, dict) else {}).items():
                self._guard(first[service], lambda c=conflict: _raise(c), service=service)

    def _apply(self, step: Step) -> None:
        if step.action in API_ACTIONS:
            self.ctx.touch_api()
        APPLY[step.action](step, self.ctx)

    def _guard(self, step: Step, call, *, service: str | None = None):
        """Run one step's call (its result, or True); a failure stops only its service (a pass-wide step's
        is the pass's error) and is False."""
        result = self.ctx.result
        service = service or step.service
        try:
            return call() or True
        except Conflict as exc:
            result.conflicts[service] = exc
            log.info(f"{step.describe()} lost a race: {exc}; re-planned on fresh reads",
                     extra={"step": step.to_json(), "conflict": exc.kind})
        except (ClientError, BotoCoreError, StepError) as exc:
            msg = f"{step.describe()} failed: {error_text(exc)}"
            log.warning(f"{service}: {msg}", extra={"step": step.to_json(), "error": msg,
                                                    "retry": is_transient(exc)})
            if service == "*":
                result.errors.append(msg)
            elif is_transient(exc):
                result.retry[service] = msg
            else:
                result.failed[service] = msg
        return False


def _raise(conflict: Conflict) -> None:
    raise conflict
