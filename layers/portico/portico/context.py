"""What applying a plan holds: the clients, the pass's observations, its claims and what it has done so far.
Every kind's apply function gets an ApplyContext; the pass's outcome is its ApplyResult."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .clients import Clients
from .observed import Observed, read_tags
from .settings import Settings
from .state import TOKEN_TAG, Conflict, ConflictKind, Ledger, StateTable, token


@dataclass
class ApplyResult:
    failed: dict[str, str] = field(default_factory=dict)
    conflicts: dict[str, Conflict] = field(default_factory=dict)
    retry: dict[str, str] = field(default_factory=dict)  # transient failures: keep PENDING, deliver again
    target_groups: dict[str, str] = field(default_factory=dict)  # name -> arn, after apply
    deployment_id: str | None = None
    errors: list[str] = field(default_factory=list)

    def stopped(self) -> set[str]:
        """Services a step of this pass failed for: their later steps are not applied."""
        return set(self.failed) | set(self.retry) | set(self.conflicts)


@dataclass
class ApplyContext:
    """What every kind's apply function gets: the clients, the pass's observations and what it has done."""

    clients: Clients
    settings: Settings
    state: StateTable
    observed: Observed
    sleep: Callable[[float], Any] = time.sleep
    clock: Callable[[], float] = time.time
    result: ApplyResult = field(default_factory=ApplyResult)
    tg_arns: dict[str, str] = field(init=False)  # target group name -> ARN, as observed or created
    resource_ids: dict[str, str] = field(init=False)  # API path -> resource id, as observed or created
    ledgers: dict[str, Ledger | None] = field(default_factory=dict)  # the ledgers this pass changes
    holder: str = field(default_factory=lambda: uuid.uuid4().hex)  # this pass's lease holder id
    api_touched: bool = False  # a step changed the REST API: the stage needs a deployment
    # the services whose entries changed since the pass read them (Conflict "stale"), in one read
    verify: Callable[[list[str]], dict[str, Conflict]] = lambda services: {}
    claimed: set[str] = field(default_factory=set)  # services whose ledger this pass holds
    renewed_at: float = 0.0  # when this pass last took or renewed its claims (the heartbeat)
    # task definitions apply read (kinds/ecs.check_container), by ARN, for the pass to cache; each service's container
    task_definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    containers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tg_arns = {name: tg.arn for name, tg in self.observed.target_groups.items()}
        self.resource_ids = {path: r.id for path, r in self.observed.resources.items()}

    def ledger(self, service: str) -> Ledger:
        if self.ledgers.get(service) is None:
            old = self.observed.state.ledgers.get(service)
            self.ledgers[service] = Ledger.from_dict(old.to_dict()) if old else Ledger(service)
        return self.ledgers[service]

    def claim_all(self, services: list[str]) -> dict[str, Conflict]:
        """Before the plan's first step: hold the ledger of every service it changes (see `state.claims`), then
        check that their entries are still the ones planned for (a pass that read one before an offboard or an
        update must not apply). The services lost, with why."""
        todo = [s for s in dict.fromkeys(services) if s not in self.claimed]
        seen = {s: self.observed.state.ledgers.get(s) for s in todo}
        lost = self.state.claim_many({s: led.version if led else None for s, led in seen.items()}, self.holder)
        won = [s for s in todo if s not in lost]
        for service in won:
            self.claimed.add(service)
            ledger = self.ledger(service)
            ledger.holder, ledger.held_until = self.holder, int(self.clock()) + self.state.CLAIM_SECONDS
        self.renewed_at = self.renewed_at or self.clock()
        return {**lost, **(self.verify(won) if won else {})}

    def heartbeat(self) -> None:
        """Renew this pass's claims when RENEW_SECONDS have passed since the last renewal (between steps and
        after every wait), so a live pass keeps its services however long it runs and a dead one's claims
        run out within CLAIM_SECONDS. A claim lost meanwhile (it ran out, another pass took the service)
        stops the service here: the other pass converges it."""
        # a stopped service's too (its ledger is saved at the end of the pass), not an offboarded one's (deleted)
        held = sorted(s for s in self.claimed if not (s in self.ledgers and self.ledgers[s] is None))
        if not held or self.clock() - self.renewed_at < self.state.RENEW_SECONDS:
            return
        until, lost = self.state.renew(held, self.holder)
        self.renewed_at = self.clock()
        for service in held:
            if service in lost:
                self.claimed.discard(service)
                if service not in self.result.stopped():
                    self.result.conflicts[service] = Conflict(ConflictKind.STALE, f"service {service}",
                                                              "another reconcile")
            elif self.ledgers.get(service) is not None:
                self.ledgers[service].held_until = until  # a later save of the ledger keeps the new end

    def write_ahead(self, service: str) -> None:
        """Save the ledger before a create, so a crash right after it leaves no object portico cannot find."""
        self.state.save_ledger(self.ledger(service))

    def touch_api(self) -> None:
        """Before the pass's first API change: mark the deployment pending (crash-safe: the next pass deploys)."""
        if not self.api_touched:
            self.state.mark_deploy_pending(self.settings.stage)
            self.api_touched = True

    def tags(self, service: str, identity: str) -> list[dict[str, str]]:
        """The tags of an object portico creates for `service`: stack, service, and the object's token (TOKEN_TAG),
        which only the ledger's nonce yields. A ledger from before nonces gets one first (saved: held by this pass)."""
        ledger = self.ledger(service)
        if not ledger.nonce:
            ledger.nonce = uuid.uuid4().hex
            self.write_ahead(service)
        return [{"Key": "portico:stack", "Value": self.settings.stack}, {"Key": "portico:service", "Value": service},
                {"Key": TOKEN_TAG, "Value": token(ledger.nonce, identity)}]

    def made_by_portico(self, service: str, arn: str, identity: str) -> bool:
        """Whether the object at `arn`, which the ledger names by identity only (its create may have crashed before
        the ARN was saved), is the one portico created: it carries the token of the ledger's nonce. Tags alone
        never make an object portico's: a look-alike copying them cannot know the nonce."""
        nonce = self.ledger(service).nonce
        return bool(nonce) and read_tags(self.clients.elbv2, arn).get(TOKEN_TAG) == token(nonce, identity)
