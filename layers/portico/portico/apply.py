"""Apply a plan: steps in ORDER, ensure-style, each by its kind's function; one failure stops only the
service it belongs to.

Independent services go in parallel, within AWS's rates (the clients' pacer, pace.py): a run of the per-service
ELB steps (target group, listener, rule: each service's in ORDER, a chain of its own) runs its services' chains
on WORKERS threads, and so does the run of their deletes; a batch of ECS attachments runs its chunks (of the
size its kind names, kinds.CHUNKS) side by side. The rest (the API, deployment) stays one step after the other.
Runs follow ORDER, with three exceptions, each two APIs with two rates whose times overlap rather than add:
- the reservations right before the ELB chains (GATES) are made a transaction at a time on a thread of their own,
  and each service's chain starts as soon as its own is made, not once every service's is (1,000 services: 40
  DynamoDB transactions, about 10 s on the emulator, no longer ahead of the first ELBv2 call);
- a service's ECS attachment needs only its target group on a listener (or rule), so it follows its ELB chain
  (FOLLOWS), in chunks as chains end, and the ECS calls run while the later services' ELB calls do instead of
  after the API's;
- the alarms and the dashboard (ASIDE) name only the pool's load balancers, the API and its stage, never an object
  the pass makes after its load balancers: they run on a thread of their own beside the routing steps, from the
  first step after the load balancers, so CloudWatch's 3 PutMetricAlarm a second (7 s for a pool of 20) is not on
  the pass's path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from botocore.exceptions import BotoCoreError, ClientError

from .clients import Clients
from .context import ApplyContext, ApplyResult
from .errors import StepError, error_text, is_transient
from .kinds import APPLY, BATCH, CHUNKS
from .observed import Observed
from .settings import Settings
from .state import Conflict, StateTable
from .steps import API_ACTIONS, Plan, Step

log = logging.getLogger("portico.apply")
WORKERS = 8  # threads of a parallel run: the pacer, not the threads, sets the pace (~10 ELB calls a second)
# Runs of these actions are per-service chains, run side by side (each action's steps touch only their service's
# objects and ledger); the two sets are contiguous in ORDER.
CHAINS = (frozenset({"check_container", "adopt_target_group", "create_target_group", "modify_target_group",
                     "create_listener", "modify_listener", "create_rule", "modify_rule"}),
          frozenset({"detach_ecs", "delete_rule", "delete_listener", "delete_target_group"}))
FOLLOWS = {CHAINS[0]: "attach_ecs"}  # a chain run's services' later step of this action is applied as they end
ASIDE = frozenset({"put_alarms", "put_dashboard"})  # beside the routing steps, once the load balancers are made
GATES = frozenset({"reserve"})  # a run of these, right before a chain run, opens each service's chain (`_gated`)
LATE = "the pass ran out of time (the Lambda's timeout was near) before this service's last steps; the next pass " \
       "finishes"


class Applier:
    def __init__(self, clients: Clients, settings: Settings, state: StateTable, observed: Observed, *,
                 sleep=time.sleep, clock=time.time, on_step: Callable[[int, int], None] | None = None,
                 deadline: float | None = None):
        def waited(seconds: float) -> None:  # a step that waits keeps the pass's claims alive
            sleep(seconds)
            self._heartbeat()

        self.ctx = ApplyContext(clients, settings, state, observed, sleep=waited, clock=clock)
        self._lock = threading.RLock()  # the result's and the claims' changes, from parallel steps
        self.on_step = on_step or (lambda done, total: None)  # progress: steps done of the plan's total
        self.deadline = deadline  # (clock) no step starts past it; the services left are retried

    def run(self, plan: Plan) -> ApplyResult:
        ctx, result = self.ctx, self.ctx.result
        plan.sort()
        steps, i = plan.steps, 0
        aside = [st for st in steps if st.action in ASIDE]
        early = {id(st) for st in aside}  # steps applied out of their run (ASIDE, FOLLOWS)
        beside = None
        try:
            self._claim_all(steps)
            with ThreadPoolExecutor(WORKERS, thread_name_prefix="portico-apply") as pool, \
                    ThreadPoolExecutor(1, thread_name_prefix="portico-aside") as side, \
                    ThreadPoolExecutor(1, thread_name_prefix="portico-reserve") as reserving:
                while i < len(steps):
                    self.on_step(i, len(steps))
                    if self._late():
                        for st in steps[i:]:
                            self._stop_late(st.service)
                        break  # an API change made is deployed by the next pass (the pending mark)
                    self._heartbeat()
                    if beside is None and aside and steps[i].action != "create_load_balancer":
                        beside = side.submit(self._aside, aside)
                    j, chain = _run_end(steps, i)
                    gates, opened = None, None
                    if steps[i].action in GATES and j < len(steps) and steps[j].action in CHAINS[0]:
                        opened = {st.service: threading.Event() for st in steps[i:j]}  # before any chain looks
                        gates = reserving.submit(self._gated, steps[i:j], opened)
                        i, (j, chain) = j, _run_end(steps, j)
                    if chain:
                        self._chain_run(pool, steps, i, j, FOLLOWS.get(chain), early, opened)
                        if gates is not None:
                            gates.result()  # its unexpected error, as in its place in ORDER
                    else:
                        self._batch(pool, [st for st in steps[i:j] if id(st) not in early])
                    i = j
                if beside is not None:
                    beside.result()  # an unexpected error is raised here, as it would be in its place in ORDER
            self.on_step(len(steps), len(steps))
        finally:
            result.target_groups = dict(ctx.tg_arns)
            held = [ctx.ledgers[s] for s in sorted(ctx.claimed) if ctx.ledgers.get(s) is not None]
            if held:
                ctx.state.unclaim_many(held, ctx.holder)
        return result

    def _chain_run(self, pool: ThreadPoolExecutor, steps: list[Step], i: int, j: int, after: str | None,
                   early: set[int], gates: dict[str, threading.Event] | None) -> None:
        """The chains of steps[i:j], with each service's later step of action `after` (FOLLOWS), marked `early`."""
        follow = {st.service: st for st in steps[j:] if st.action == after}
        follow = {s: follow[s] for s in {st.service for st in steps[i:j]} if s in follow}
        early.update(id(st) for st in follow.values())
        self._chains(pool, steps[i:j], i, len(steps), follow, gates)

    def _aside(self, steps: list[Step]) -> None:
        for step in steps:
            if self._late():
                return  # written by the next pass, as a step past the deadline in ORDER would be
            self._guard(step, lambda step=step: self._apply(step))

    def _gated(self, run: list[Step], opened: dict[str, threading.Event]) -> None:
        """A run of reservations ahead of the chains that follow it (GATES), on a thread of its own: its chunks one at
        a time (one transaction each), each service's gate opened as its reservation is made (or failed), so its
        chain starts while the later chunks are reserved."""
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="portico-reserve") as one:
                self._batch(one, run, opened)
        finally:
            for gate in opened.values():
                gate.set()

    def _batch(self, pool: ThreadPoolExecutor, run: list[Step],
               opened: dict[str, threading.Event] | None = None) -> None:
        """A run of one action: by its kind's batch function when it has one (chunks side by side when they are
        independent), what that leaves one by one. `opened`: each service's gate, opened once its step is done."""
        todo = [st for st in run if not self._stopped(st.service)]
        if len(todo) > 1:
            size = CHUNKS.get(todo[0].action, len(todo))
            chunks = [todo[k:k + size] for k in range(0, len(todo), size)]
            futures = [pool.submit(self._batch_of, c, opened) for c in chunks]
            todo = [st for left in self._wait(pool, futures) for st in left]
        for step in todo:
            if not self._stopped(step.service):
                self._guard(step, lambda step=step: self._apply(step))
            if opened:
                opened[step.service].set()

    def _batch_of(self, todo: list[Step], opened: dict[str, threading.Event] | None = None) -> list[Step]:
        try:
            left = BATCH[todo[0].action](todo, self.ctx)
        except (ClientError, BotoCoreError):  # e.g. throttled past retries: one by one says whose
            return todo
        kept = {id(st) for st in left}
        for st in todo if opened else ():
            if id(st) not in kept:
                opened[st.service].set()
        return left

    def _chains(self, pool: ThreadPoolExecutor, run: list[Step], done: int, total: int,
                follow: dict[str, Step], gates: dict[str, threading.Event] | None = None) -> None:
        """Each service's steps of the run in ORDER, the services side by side; progress counted as steps end.
        A service's step in `follow` is due once its chain ended well: the due ones are batched in chunks as
        they come (the earlier services' while the later services' chains run), the last chunk once all ended.
        `gates`: a service's chain starts once its gate is open (its reservation made: `_gated`)."""
        chains: dict[str, list[Step]] = {}
        for st in run:
            chains.setdefault(st.service, []).append(st)
        ended, due, left = [0], [], []
        size = max(2, min(CHUNKS.get(st.action, 2) for st in follow.values())) if follow else 0

        def batch(todo: list[Step]) -> None:
            rest = self._batch_of(todo) if len(todo) > 1 else todo
            with self._lock:
                left.extend(rest)

        def chain(todo: list[Step]) -> None:
            if gates and todo[0].service in gates:
                gates[todo[0].service].wait()
            for step in todo:
                self._heartbeat()  # between steps, as one after the other: a long chain keeps its claims
                self._step(step)
                with self._lock:
                    ended[0] += 1
            chunk, after = [], follow.get(todo[0].service)
            with self._lock:
                if after is not None and not self._stopped(after.service):
                    due.append(after)
                    if len(due) >= size:
                        chunk, due[:] = list(due), []
            if chunk:
                batch(chunk)

        futures = [pool.submit(chain, todo) for todo in chains.values()]
        self._wait(pool, futures, lambda: self.on_step(done + ended[0], total))
        if due:
            batch(due)
        for step in left:
            self._step(step)

    def _step(self, step: Step) -> None:
        """One step, unless the pass is out of time (its service is retried) or its service stopped."""
        if self._late():
            self._stop_late(step.service)
        elif not self._stopped(step.service):
            self._guard(step, lambda: self._apply(step))

    def _wait(self, pool: ThreadPoolExecutor, futures: list, beat: Callable[[], None] | None = None) -> list:
        """The futures' results in order, once all ended; meanwhile the claims' heartbeat and progress run here.
        A step's unexpected error is raised here, as it would be one step after the other."""
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
            self._heartbeat()
            if beat:
                beat()
        return [f.result() for f in futures]

    def _late(self) -> bool:
        return self.deadline is not None and self.ctx.clock() >= self.deadline

    def _stop_late(self, service: str) -> None:
        with self._lock:
            if service != "*" and service not in self.ctx.result.stopped():
                self.ctx.result.retry[service] = LATE

    def _stopped(self, service: str) -> bool:
        with self._lock:
            return service in self.ctx.result.stopped()

    def _heartbeat(self) -> None:
        with self._lock:
            self.ctx.heartbeat()

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
            with self._lock:
                result.conflicts[service] = exc
            log.info(f"{step.describe()} lost a race: {exc}; re-planned on fresh reads",
                     extra={"step": step.to_json(), "conflict": exc.kind})
        except (ClientError, BotoCoreError, StepError) as exc:
            msg = f"{step.describe()} failed: {error_text(exc)}"
            log.warning(f"{service}: {msg}", extra={"step": step.to_json(), "error": msg,
                                                    "retry": is_transient(exc)})
            with self._lock:
                if service == "*":
                    result.errors.append(msg)
                elif is_transient(exc):
                    result.retry[service] = msg
                else:
                    result.failed[service] = msg
        return False


def _run_end(steps: list[Step], i: int) -> tuple[int, frozenset[str] | None]:
    """Where the run that starts at i ends, and its chain set if it is a run of chains: a chain run's actions, or
    one batched action's steps."""
    j, chain = i + 1, next((c for c in CHAINS if steps[i].action in c), None)
    while j < len(steps) and (steps[j].action in chain if chain else
                              steps[i].action in BATCH and steps[j].action == steps[i].action):
        j += 1
    return j, chain


def _raise(conflict: Conflict) -> None:
    raise conflict
