"""reconcile(keys | ALL): the one entry to the logic. Every trigger (stream, sweeper, custom resource, CLI)
is a thin adapter over it.

registry item(s) ──validate──► desired ──┐
                                        ├─► plan (a value) ──► apply ──► status on the item
AWS + ledger ────────────────► observed ─┘
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .apply import Applier
from .clients import Clients
from .desired import desire
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
from .spec import ServiceSpec, SpecError, parse, spec_view
from .state import Conflict, StateTable
from .status import Pass, status_of
from .steps import Plan

log = logging.getLogger("portico.reconcile")
ALL = None
MAX_ROUNDS = 3  # a lost port race re-plans the service with fresh reservations
SHARD_SIZE = 50  # services per sweep: a bounded share of the 900 s Lambda, ≤ 5 DescribeServices (10 each)


def shard_of(service: str, shards: int) -> int:
    return zlib.crc32(service.encode()) % shards


@dataclass
class Outcome:
    plan: Plan
    statuses: dict[str, Status] = field(default_factory=dict)
    retry: dict[str, str] = field(default_factory=dict)  # service -> transient error: deliver again
    removed: list[str] = field(default_factory=list)
    deployment_id: str | None = None
    errors: list[str] = field(default_factory=list)

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
        self.registry = Registry(clients.dynamodb, settings.registry_table, clock=clock)
        self.state = StateTable(clients.dynamodb, settings.state_table, clock=clock)
        self.link_version: str | None = None  # plan with these VPC links (migrate-link), not the recorded ones
        self.deadline: float | None = None  # the running pass's (run's `deadline`)

    # -- reading -------------------------------------------------------------------------------------
    def read(self, keys: Iterable[str] | None) -> tuple[dict[str, dict], dict[str, ServiceSpec], dict[str, str]]:
        items = self.registry.scan() if keys is None else self.registry.get_many(list(keys))
        items = dict(sorted(items.items())) if keys is None else {k: items[k] for k in keys if k in items}
        specs, invalid = {}, {}
        for service, item in items.items():
            try:
                specs[service] = self.parse(item)
            except SpecError as exc:
                invalid[service] = f"invalid entry: {exc}"
        return items, specs, invalid

    def parse(self, item: dict[str, Any]) -> ServiceSpec:
        s = self.settings
        return parse(item, default_auth=s.default_auth, allow_unauthenticated=s.allow_unauthenticated,
                     allowed_clusters=s.allowed_clusters)

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
        desire(spec, observed, self.settings, self.clients.region)
        return spec

    def observe(self, specs: dict[str, ServiceSpec]) -> Observed:
        """AWS and the ledger, with the ECS services the specs name (offboarding reads none: detaching
        re-reads its ECS service under a lease)."""
        wanted = [(sp.cluster, sp.ecs_service) for sp in specs.values()]
        return observe(self.clients, self.settings, self.state, wanted, self.link_version)

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
        items, specs, invalid = self.read(keys)
        scope = None if keys is None else set(keys)
        if shard and keys is None:
            shards = max(1, math.ceil(len(items) / SHARD_SIZE))
            turn = self.state.next_sweep() % shards
            mine = [s for s in self.state.snapshot().ledgers if shard_of(s, shards) == turn]
            # and every entry still waiting (PENDING or no status: a crashed or blocked pass's), whatever its shard
            waiting = {s for s, i in items.items() if i.get("status") in (None, PENDING)}
            scope = {s for s in items if shard_of(s, shards) == turn} | set(mine) | waiting
            items = {s: i for s, i in items.items() if s in scope}
            specs = {s: sp for s, sp in specs.items() if s in scope}
            invalid = {s: m for s, m in invalid.items() if s in scope}
        present = set(items)
        outcome: Outcome | None = None
        todo = dict(specs)
        failed: dict[str, str] = {}
        merged_plan = Plan()
        routed: set[str] = set()
        routes: dict[str, tuple[int | None, str, str | None]] = {}
        target_groups: dict[str, str] = {}
        raced: dict[str, Conflict] = {}

        def verify(services: list[str]) -> dict[str, Conflict]:  # after the claims: are the entries as planned?
            now = self.registry.get_many(services)
            return {s: Conflict("stale", f"entry {s}", "a newer write of the entry") for s in services
                    if (spec_view(now[s]) if s in now else None) != (spec_view(items[s]) if s in items else None)}

        for round_no in range(MAX_ROUNDS):
            observed = self.observe(todo)
            leavers = self.leaving_owners(todo, observed, scope) if round_no == 0 and scope is not None else []
            if leavers:  # settled with this batch: they leave paths it wants (plan._hand_over)
                more_items, more_specs, more_invalid = self.read(leavers)
                items.update(more_items), specs.update(more_specs), invalid.update(more_invalid)
                todo.update(more_specs)
                scope, present = scope | set(leavers), present | set(more_items)
                observed = self.observe(todo)
            fresh = {arn: td for arn, td in observed.state.task_definitions.items() if td.pop("fresh", False)}
            if fresh and not dry_run:
                self.state.cache_task_definitions(fresh)
            routed |= set(observed.state.ledgers)
            for s, led in observed.state.ledgers.items():
                if led.path and s not in routes:
                    routes[s] = (led.port if led.priority is None else None, led.path,
                                 next((arn for arn in led.target_groups.values() if arn), None))
            plan = self.plan(todo, observed, scope, present)
            if dry_run:
                plan.failed.update(invalid)
                return Outcome(plan=plan)
            applier = Applier(self.clients, self.settings, self.state, observed, sleep=self.sleep,
                              clock=self.clock, on_step=self.on_step, deadline=self.deadline)
            applier.ctx.verify = verify
            result = applier.run(plan)
            merged_plan.steps += plan.steps
            merged_plan.desired.update(plan.desired)
            merged_plan.removed += [s for s in plan.removed if s not in merged_plan.removed]
            failed.update(plan.failed)
            failed.update(result.failed)
            outcome = outcome or Outcome(plan=merged_plan)
            outcome.removed += [s for s in plan.removed if s not in outcome.removed]
            outcome.errors += result.errors
            outcome.retry.update(result.retry)
            target_groups.update(result.target_groups)
            outcome.deployment_id = result.deployment_id or outcome.deployment_id
            raced = {}
            for service, conflict in result.conflicts.items():
                if conflict.kind == "path":
                    failed[service] = f"path: {conflict.key.removeprefix('path ')} is owned by service " \
                                      f"{conflict.owner!r}"
                else:
                    raced[service] = conflict
            if not raced or (self.deadline is not None and self.clock() >= self.deadline):
                break
            self.wait_unclaimed([s for s, c in raced.items() if c.kind == "busy"])
            if any(c.kind == "retiring" for c in raced.values()):
                self.sleep(1.0)  # the other pass deletes the parent in a call or two; then this one creates it
            # The other pass may have updated or offboarded them: read their entries again.
            again = sorted(raced)
            fresh_items, fresh_specs, fresh_invalid = self.read(again)
            for service in again:
                items.pop(service, None), specs.pop(service, None), invalid.pop(service, None)
                merged_plan.desired.pop(service, None)
            items.update(fresh_items), specs.update(fresh_specs), invalid.update(fresh_invalid)
            todo = {s: specs[s] for s in again if s in specs}
            scope, present = set(again), set(fresh_items)
        for service, conflict in raced.items():  # still contended after the last round
            merged_plan.desired.pop(service, None)
            outcome.retry[service] = f"{'listenerPort' if conflict.kind == 'port' else 'listenerRule'}: lost the " \
                f"race for a free {conflict.kind} three times" if conflict.kind in ("port", "priority") \
                else f"another reconcile is changing it ({conflict})"
        assert outcome is not None
        merged_plan.failed = {**failed, **invalid}
        ended = Pass(items, specs, merged_plan, invalid, failed, outcome.retry, routed, target_groups, routes)
        outcome.statuses = self.write_statuses(ended, started, held={s for s, c in raced.items()
                                                                     if c.kind not in ("port", "priority")})
        log.info("reconciled", extra=outcome.summary())
        return outcome

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
        for their spec, and only if no pass wrote since this one read them."""
        statuses = {}
        for service, item in sorted(p.items.items()):
            statuses[service] = st = status_of(
                p, service, rest_api_id=self.settings.rest_api_id, region=self.clients.region,
                stage=self.settings.stage, now=self.clock(), sweep_seconds=self.settings.sweep_seconds,
                domain=self.settings.domain(self.settings.stage))
            if service not in held:
                self.registry.write_status(item, st, started=started)
            elif item.get("status") in (None, PENDING) or item.get("specHash") != st.spec_hash:
                self.registry.write_status(item, st, held=True)
        return statuses


def reconcile(keys: Iterable[str] | None = ALL, *, clients: Clients | None = None, settings: Settings | None = None,
              dry_run: bool = False, **kwargs) -> Outcome:
    settings = settings or Settings.from_env()
    clients = clients or Clients.create(settings)
    return Reconciler(clients, settings, **kwargs).run(keys, dry_run=dry_run)


__all__ = ["ALL", "Outcome", "Reconciler", "reconcile"]
