"""reconcile(keys | ALL): the one entry to the logic. Every trigger (stream, sweeper, custom resource, CLI)
is a thin adapter over it.

registry item(s) ──validate──► desired ──┐
                                        ├─► plan (a value) ──► apply ──► status on the item
AWS + ledger ────────────────► observed ─┘
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .apply import Applier
from .clients import Clients
from .context import ApplyResult
from .desired import desire
from .kinds.load_balancer import AWAIT
from .observed import (
    Observed,
    ecs_key,
    observe,
    read_cognito_authorizer,
    read_ecs,
    read_load_balancers,
    read_resources,
    read_target_groups,
)
from .plan import make_plan
from .registry import PENDING, Registry, Status
from .settings import Settings
from .slots import Waiting
from .spec import ServiceSpec, SpecError, parse, spec_view
from .state import Conflict, ConflictKind, StateTable
from .status import Pass, status_of
from .steps import Plan

log = logging.getLogger("portico.reconcile")
ALL = None
MAX_ROUNDS = 3  # a lost port race re-plans the service with fresh reservations
SHARD_SIZE = 50  # services per sweep: a bounded share of the 900 s Lambda, ≤ 5 DescribeServices (10 each)
CHOSEN_FIELD = {ConflictKind.PORT: "listenerPort", ConflictKind.PRIORITY: "listenerRule"}  # where a lost one shows
STATUS_WRITERS = 16  # status writes side by side (write_statuses): 1,000 of ~30 ms each in about 2 s
POOL_ONLY = frozenset({"create_load_balancer", AWAIT})  # a round of only these changes nothing of the API


def shard_of(service: str, shards: int) -> int:
    return zlib.crc32(service.encode()) % shards


@dataclass
class Entries:
    """Registry entries as the pass last read them: the items, the specs of the valid ones, why the others are not."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    specs: dict[str, ServiceSpec] = field(default_factory=dict)
    invalid: dict[str, str] = field(default_factory=dict)

    def within(self, scope: set[str]) -> Entries:
        return Entries(*({s: v for s, v in d.items() if s in scope} for d in (self.items, self.specs, self.invalid)))

    def replace(self, services: Iterable[str], fresh: Entries) -> None:
        """These services as read again: one gone, or invalid now, loses what the earlier read said of it."""
        for mine, theirs in ((self.items, fresh.items), (self.specs, fresh.specs), (self.invalid, fresh.invalid)):
            for service in services:
                mine.pop(service, None)
            mine.update(theirs)


@dataclass(frozen=True)
class Round:
    """What one round plans: these specs, within `scope` (None: every service), `present` the ones with an entry
    (a ledgered service in scope without one is offboarded)."""

    specs: dict[str, ServiceSpec]
    scope: set[str] | None
    present: set[str]


@dataclass
class Outcome:
    """A pass: its rounds' plans merged into one, what applying them did, and each entry's status."""

    plan: Plan = field(default_factory=Plan)
    statuses: dict[str, Status] = field(default_factory=dict)
    retry: dict[str, str] = field(default_factory=dict)  # service -> transient error: deliver again
    deployment_id: str | None = None
    errors: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # planning or a step failed it (not: its entry is invalid)
    target_groups: dict[str, str] = field(default_factory=dict)  # name -> ARN, after the pass
    routed: set[str] = field(default_factory=set)  # services with a ledger before the pass
    # their routes before the pass, kept on the entry while it is not READY: (port or None, path, target group ARN)
    routes: dict[str, tuple[int | None, str, str | None]] = field(default_factory=dict)

    @property
    def removed(self) -> list[str]:
        return self.plan.removed

    def saw(self, observed: Observed) -> None:
        """The ledgers as a round read them: a service's route is the one its first read found."""
        self.routed |= set(observed.state.ledgers)
        for service, led in observed.state.ledgers.items():
            if led.path and service not in self.routes:
                self.routes[service] = (led.port if led.priority is None else None, led.path,
                                        next((arn for arn in led.target_groups.values() if arn), None))

    def merge(self, plan: Plan, result: ApplyResult) -> dict[str, Conflict]:
        """One round's plan and what applying it did. Returns the services that lost a race, to plan again; a path
        another service holds fails its service."""
        self.plan.steps += plan.steps
        self.plan.desired.update(plan.desired)
        self.plan.removed += [s for s in plan.removed if s not in self.plan.removed]
        self.failed.update(plan.failed)
        self.failed.update(result.failed)
        self.retry.update(result.retry)
        self.errors += result.errors
        self.target_groups.update(result.target_groups)
        self.deployment_id = result.deployment_id or self.deployment_id
        raced = {s: c for s, c in result.conflicts.items() if c.kind.retried}
        self.failed.update({s: f"path: {c.key.removeprefix('path ')} is owned by service {c.owner!r}"
                            for s, c in result.conflicts.items() if s not in raced})
        return raced

    def give_up(self, raced: dict[str, Conflict]) -> None:
        """Services still contended after the last round: retried (the trigger delivers again), never FAILED."""
        for service, conflict in raced.items():
            self.plan.desired.pop(service, None)
            if conflict.kind is ConflictKind.ACTIVE:
                self.retry[service] = f"load balancer provisioning: {conflict.key} is active; the next pass " \
                                      "routes the service on it (its entry is delivered again)"
            else:
                self.retry[service] = f"{CHOSEN_FIELD[conflict.kind]}: lost the race for a free {conflict.kind} " \
                    "three times" if conflict.kind.chosen else f"another reconcile is changing it ({conflict})"

    def ended(self, entries: Entries) -> Pass:
        self.plan.failed = {**self.failed, **entries.invalid}
        return Pass(entries.items, entries.specs, self.plan, entries.invalid, self.failed, self.retry, self.routed,
                    self.target_groups, self.routes)

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for st in self.statuses.values():
            counts[st.status] = counts.get(st.status, 0) + 1
        return {"steps": len(self.plan.steps), "statuses": counts, "removed": self.removed,
                "retry": sorted(self.retry), "deployment": self.deployment_id, "errors": self.errors}


class Reconciler:
    def __init__(self, clients: Clients, settings: Settings, *, sleep=time.sleep, clock=time.time,
                 on_step: Callable[[int, int], None] | None = None):
        self.clients, self.settings = clients, settings.check()
        self.sleep, self.clock, self.on_step = sleep, clock, on_step  # on_step: progress of each apply
        self.registry = Registry(clients.dynamodb, settings.registry_table, clock=clock, sleep=sleep)
        self.state = StateTable(clients.dynamodb, settings.state_table, clock=clock, sleep=sleep)
        self.link_version: str | None = None  # plan with these VPC links (migrate-link), not the recorded ones
        self.deadline: float | None = None  # the running pass's (run's `deadline`)

    # -- reading -------------------------------------------------------------------------------------
    def read(self, keys: Iterable[str] | None) -> Entries:
        items = self.registry.scan() if keys is None else self.registry.get_many(list(keys))
        entries = Entries(dict(sorted(items.items())) if keys is None else {k: items[k] for k in keys if k in items})
        for service, item in entries.items.items():
            try:
                entries.specs[service] = self.parse(item)
            except SpecError as exc:
                entries.invalid[service] = f"invalid entry: {exc}"
        return entries

    def parse(self, item: dict[str, Any]) -> ServiceSpec:
        settings = self.settings
        return parse(item, default_auth=settings.default_auth, allow_unauthenticated=settings.allow_unauthenticated,
                     allowed_clusters=settings.allowed_clusters)

    def preflight(self, item: dict[str, Any]) -> ServiceSpec:
        """What `run` would refuse this item for, checked before it is written. Reads only what the checks
        need: the reservations around its path (not the whole registry or state table), the load balancers,
        the API's resources and its one ECS service. An entry written but not reconciled yet holds no
        reservation: the reconcile keeps the first writer of a path."""
        spec = self.parse(item)
        c = self.clients
        claims = self.state.claims(spec.service, spec.path)
        if self.settings.backend == "alb":  # the header its rule will match (slots.header_value)
            claims.header_secret = self.state.header_secret()
        observed = Observed(
            state=claims,
            load_balancers=read_load_balancers(c.elbv2, self.settings, link_version=self.state.link_version()),
            target_groups=read_target_groups(c.elbv2),
            resources=read_resources(c.apigateway, self.settings.rest_api_id),
            ecs=read_ecs(c.ecs, [(spec.cluster, spec.ecs_service)]),
            cognito_authorizer=read_cognito_authorizer(c.apigateway, self.settings.rest_api_id))
        with contextlib.suppress(Waiting):  # no room on the pool yet: the pass adds a load balancer to it
            desire(spec, observed, self.settings, self.clients.region)
        return spec

    def observe(self, specs: dict[str, ServiceSpec], api: Observed | None = None) -> Observed:
        """AWS and the ledger, with the ECS services the specs name (offboarding reads none: detaching
        re-reads its ECS service under a lease); `api`: an earlier round's, whose API side is kept (observe)."""
        wanted = [(sp.cluster, sp.ecs_service) for sp in specs.values()]
        return observe(self.clients, self.settings, self.state, wanted, self.link_version, api)

    def plan(self, specs: dict[str, ServiceSpec], observed: Observed, scope: set[str] | None,
             present: set[str]) -> Plan:
        return make_plan(specs, observed, self.settings, self.clients.region, scope, present)

    # -- the whole pass ------------------------------------------------------------------------------
    def services_on_ecs(self, cluster: str, service: str) -> list[str]:
        """The entries whose ledger attaches them to that ECS service (names or ARNs)."""
        key = ecs_key(cluster, service)
        return sorted(s for s, led in self.state.snapshot().ledgers.items() if led.ecs == key)

    def sweep(self, deadline: float | None = None) -> Outcome:
        """One scheduled sweep: the services (registry entries and ledgers) in shards of ≤ SHARD_SIZE by a
        stable hash of the name, one shard per sweep in turn (the sweep's number, a counter in the state
        table: any schedule, rate or cron, reaches every shard in `shards` sweeps), so a
        sweep's time and ECS reads stay bounded however many services there are, and every service is
        re-read (a rotating audit of ECS attachments) once every `shards` sweeps. Stream records and ECS
        events reconcile a service at once, whatever its shard."""
        return self.run(ALL, shard=True, deadline=deadline)

    def run(self, keys: Iterable[str] | None = ALL, *, dry_run: bool = False, shard: bool = False,
            deadline: float | None = None) -> Outcome:
        """One pass. Several may run at once (stream, sweeper, provider, CLI): a service another pass is
        changing, or changed since this one read it, is re-read and re-planned (up to MAX_ROUNDS); a
        port taken meanwhile is chosen again. Such lost races are never FAILED: what is still contended
        after the last round is retried (the other pass writes its status, the trigger delivers again).
        `deadline` (self.clock): past it the pass starts no new step (a Lambda whose time runs short)."""
        started, self.deadline = self.clock(), deadline
        keys = None if keys is None else list(dict.fromkeys(keys))
        entries = self.read(keys)
        scope = None if keys is None else set(keys)
        if shard and keys is None:
            scope = self.shard(entries.items)
            entries = entries.within(scope)
        todo, outcome, raced = Round(dict(entries.specs), scope, set(entries.items)), Outcome(), {}
        api = None
        for round_no in range(MAX_ROUNDS):
            todo, observed = self.observe_round(todo, entries, first=round_no == 0, dry_run=dry_run, api=api)
            plan = self.plan(todo.specs, observed, todo.scope, todo.present)
            if dry_run:  # the first round's plan, applied nowhere
                plan.failed.update(entries.invalid)
                return Outcome(plan)
            raced = self.apply_round(plan, observed, entries, outcome)
            if not raced or (self.deadline is not None and self.clock() >= self.deadline):
                break
            self.wait_out(raced)
            todo = self.read_again(sorted(raced), entries, outcome)
            # a round that only added load balancers, and lost no race to another pass, left the API as it read it:
            # the next keeps that read (a race lost to another pass re-reads all: that pass may change the API)
            pool_only = {st.action for st in plan.steps} <= POOL_ONLY
            api = observed if pool_only and all(c.kind is ConflictKind.ACTIVE for c in raced.values()) else None
        outcome.give_up(raced)
        held = {s for s, c in raced.items() if c.kind.held}
        outcome.statuses = self.write_statuses(outcome.ended(entries), started, held=held)
        log.info("reconciled", extra=outcome.summary())
        return outcome

    def shard(self, items: dict[str, dict[str, Any]]) -> set[str]:
        """This sweep's services (see `sweep`): the entries and ledgers of its shard, and every entry still waiting
        (PENDING or no status: a crashed or blocked pass's), whatever its shard."""
        shards = max(1, math.ceil(len(items) / SHARD_SIZE))
        turn = self.state.next_sweep() % shards
        mine = {s for s in self.state.snapshot().ledgers if shard_of(s, shards) == turn}
        waiting = {s for s, item in items.items() if item.get("status") in (None, PENDING)}
        return {s for s in items if shard_of(s, shards) == turn} | mine | waiting

    def observe_round(self, todo: Round, entries: Entries, *, first: bool, dry_run: bool,
                      api: Observed | None = None) -> tuple[Round, Observed]:
        """AWS and the ledger for one round. The first takes in the services outside the pass that leave a path it
        wants: they are settled with this batch (plan._hand_over). `api`: the earlier round's read of the API, kept."""
        observed = self.observe(todo.specs, api)
        leavers = self.leaving_owners(todo.specs, observed, todo.scope) if first and todo.scope is not None else []
        if leavers:
            more = self.read(leavers)
            entries.replace(leavers, more)
            todo = Round({**todo.specs, **more.specs}, todo.scope | set(leavers), todo.present | set(more.items))
            observed = self.observe(todo.specs)
        fresh = {arn: td for arn, td in observed.state.task_definitions.items() if td.pop("fresh", False)}
        if fresh and not dry_run:
            self.state.cache_task_definitions(fresh)
        return todo, observed

    def apply_round(self, plan: Plan, observed: Observed, entries: Entries, outcome: Outcome) -> dict[str, Conflict]:
        """Apply one round's plan, merged into `outcome`; the services that lost a race to another pass."""
        applier = Applier(self.clients, self.settings, self.state, observed, sleep=self.sleep, clock=self.clock,
                          on_step=self.on_step, deadline=self.deadline)
        applier.ctx.verify = lambda services: self.changed_entries(services, entries.items)
        outcome.saw(observed)
        raced = outcome.merge(plan, applier.run(plan))
        if applier.ctx.task_definitions:  # those apply read (observed.read_ecs left them to it): kept as observe's
            self.state.cache_task_definitions(applier.ctx.task_definitions)
        return raced

    def changed_entries(self, services: list[str], read: dict[str, dict[str, Any]]) -> dict[str, Conflict]:
        """After the claims: the services whose entry is no longer the one the pass read (and planned for)."""
        now = self.registry.get_many(services)
        return {s: Conflict(ConflictKind.STALE, f"entry {s}", "a newer write of the entry") for s in services
                if (spec_view(now[s]) if s in now else None) != (spec_view(read[s]) if s in read else None)}

    def wait_out(self, raced: dict[str, Conflict]) -> None:
        """Before the next round reads them: until the passes holding these services let go, and a moment for a
        pass deleting a parent resource (it does so in a call or two; then this one creates it again)."""
        self.wait_unclaimed([s for s, c in raced.items() if c.kind is ConflictKind.BUSY])
        if any(c.kind is ConflictKind.RETIRING for c in raced.values()):
            self.sleep(1.0)

    def read_again(self, services: list[str], entries: Entries, outcome: Outcome) -> Round:
        """The next round: these services as their entries are now (the other pass may have updated or offboarded
        them)."""
        fresh = self.read(services)
        entries.replace(services, fresh)
        for service in services:
            outcome.plan.desired.pop(service, None)
        return Round(fresh.specs, set(services), set(fresh.items))

    def leaving_owners(self, specs: dict[str, ServiceSpec], observed: Observed, scope: set[str]) -> list[str]:
        """The services outside this pass that hold a path it wants and are leaving it: their entry is gone
        (offboarded) or names another path. One read of their entries, only when a wanted path is held."""
        owners = sorted({observed.state.paths.get(sp.path) for sp in specs.values()} - scope - {None})
        if not owners:
            return []
        entries = self.registry.get_many(owners)
        ledgers = observed.state.ledgers
        return [o for o in owners if o in ledgers and (o not in entries or entries[o].get("path") != ledgers[o].path)]

    def wait_unclaimed(self, services: list[str], budget: float = 30.0) -> None:
        """Wait (up to `budget` s) until no other pass holds these services' ledgers, so the next round reads
        what that pass did. Polls back off (0.25 s doubling to 5 s): ~10 reads, not one every 0.25 s, while a
        dead pass's claim runs out its term."""
        delay, waited = 0.25, 0.0
        if self.deadline is not None:
            budget = min(budget, self.deadline - self.clock())
        while services and waited < budget:
            now = int(self.clock())
            held = [d for d in self.state.get_many([f"svc#{s}" for s in services])
                    if d.get("holder") and int(d.get("heldUntil") or 0) >= now]
            if not held:
                return
            self.sleep(delay)
            waited += delay
            delay = min(delay * 2, 5.0)

    def write_statuses(self, p: Pass, started: float | None = None, held: set[str] = frozenset()
                       ) -> dict[str, Status]:
        """Each entry's status, written onto it. `held`: services another pass is converging, which writes
        their result: they are told PENDING (who holds them, until when) unless they already have a status
        for their spec, and only if no pass wrote since this one read them.

        The writes go on STATUS_WRITERS threads side by side: each is one conditional UpdateItem on its own
        entry (its spec as read, `passStartedAt`), so no write's outcome depends on another's and their order
        does not matter. The registry table is on-demand (template.yaml), which takes "up to 4,000 writes per
        second" from a new table (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html):
        16 threads of ~30 ms calls are ~530 a second, nothing to pace."""
        statuses, writes = {}, []
        # each write starts as soon as its status is made (a status is pure, but 1,000 of them take a while)
        with ThreadPoolExecutor(STATUS_WRITERS, thread_name_prefix="portico-status") as pool:
            for service, item in sorted(p.items.items()):
                statuses[service] = st = status_of(
                    p, service, rest_api_id=self.settings.rest_api_id, region=self.clients.region,
                    stage=self.settings.stage, now=self.clock(), sweep_seconds=self.settings.sweep_seconds,
                    domain=self.settings.domain(self.settings.stage))
                if service not in held:
                    writes.append(pool.submit(self.registry.write_status, item, st, started=started))
                elif item.get("status") in (None, PENDING) or item.get("specHash") != st.spec_hash:
                    writes.append(pool.submit(self.registry.write_status, item, st, held=True))
            for done in writes:
                done.result()  # an error that is not a lost condition ends the pass, as one at a time did
        return statuses


def reconcile(keys: Iterable[str] | None = ALL, *, clients: Clients | None = None, settings: Settings | None = None,
              dry_run: bool = False, **kwargs) -> Outcome:
    settings = settings or Settings.from_env()
    clients = clients or Clients.create(settings)
    return Reconciler(clients, settings, **kwargs).run(keys, dry_run=dry_run)


__all__ = ["ALL", "Outcome", "Reconciler", "reconcile"]
