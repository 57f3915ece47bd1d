"""What portico's state table holds, as values, and DynamoDB's item form (the registry's too).

These know no key: `StateTable` (this package) owns every key prefix of the table.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_ser, _de = TypeSerializer(), TypeDeserializer()


def to_item(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _ser.serialize(v) for k, v in data.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _de.deserialize(v) for k, v in item.items()}


def owned_by(owner: str, key: str = "pk") -> dict[str, Any]:
    """The condition of every owned item's write: it does not exist yet, or `owner` holds it."""
    return {"ConditionExpression": f"attribute_not_exists({key}) OR #o = :o",
            "ExpressionAttributeNames": {"#o": "owner"}, "ExpressionAttributeValues": {":o": {"S": owner}}}


TOKEN_TAG = "portico:token"


def token(nonce: str, identity: str) -> str:
    """The tag value that proves an object was created by the pass holding the ledger: a keyed hash of the
    object's identity (target group name, lb:port, listener:priority) with the ledger's nonce, so one object's tag
    says nothing of another's and the nonce never leaves the state table."""
    return hmac.new(nonce.encode(), identity.encode(), hashlib.sha256).hexdigest()[:32]


def batch_get(dynamodb, table: str, keys: list[dict[str, Any]], *,
              sleep: Callable[[float], Any] = time.sleep) -> list[dict[str, Any]]:
    """Consistent reads of `keys`, 100 per BatchGetItem (its limit), unprocessed keys retried with an exponential
    backoff on `sleep`: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html"""
    out: list[dict[str, Any]] = []
    for i in range(0, len(keys), 100):
        request = {table: {"Keys": keys[i:i + 100], "ConsistentRead": True}}
        for attempt in range(8):
            resp = dynamodb.batch_get_item(RequestItems=request)
            out += [from_item(raw) for raw in resp.get("Responses", {}).get(table, [])]
            request = resp.get("UnprocessedKeys") or {}
            if not request:
                break
            sleep(min(0.05 * 2 ** attempt, 1.0))
    return out


class ConflictKind(StrEnum):
    """What a write lost, and to whom. Every kind but PATH is a lost race, never the user's to fix: the reconcile
    re-reads the service and plans it again (reconcile.MAX_ROUNDS rounds), then leaves it to be retried."""

    PORT = "port"  # a listener port on the load balancer, taken meanwhile: the next round chooses another
    PRIORITY = "priority"  # ALB mode: a listener rule's priority on the listener, likewise
    PATH = "path"  # the API path, an ancestor or a path below it is another service's: the service is FAILED
    BUSY = "busy"  # another pass holds the service's ledger now: wait until it lets go, then plan again
    STALE = "stale"  # the ledger or the entry changed since this pass read it: plan again on fresh reads
    RETIRING = "retiring"  # another pass is deleting an ancestor's API resource: plan again once it is gone
    ACTIVE = "active"  # not a race: the load balancer the service waited for is active now: plan it again on it

    @property
    def held(self) -> bool:
        """Another pass holds or changed the service: that pass converges it and writes its status."""
        return self in (ConflictKind.BUSY, ConflictKind.STALE, ConflictKind.RETIRING)

    @property
    def retried(self) -> bool:
        return self is not ConflictKind.PATH

    @property
    def chosen(self) -> bool:
        """A number the pass chooses itself (port, rule priority): lost, it chooses another and writes the status.
        The service of any other lost race is another pass's to converge and report."""
        return self in (ConflictKind.PORT, ConflictKind.PRIORITY)


class Conflict(Exception):
    """A write lost to another owner or another pass: `kind` what was contended (a ConflictKind; a plain string of
    one is taken too), `key` the object, `owner` who holds it."""

    def __init__(self, kind: ConflictKind | str, key: str, owner: str | None):
        self.kind, self.key, self.owner = ConflictKind(kind), key, owner
        super().__init__(f"load balancer {key} is active now" if self.kind is ConflictKind.ACTIVE else
                         f"{self.kind} {key} is held by {owner or 'another reconcile'}")


@dataclass
class Ledger:
    service: str
    load_balancer: str | None = None
    port: int | None = None
    path: str | None = None
    target_groups: dict[str, str] = field(default_factory=dict)  # name -> arn
    listener_arn: str | None = None
    resources: dict[str, str] = field(default_factory=dict)  # API path -> resource id
    ecs: str | None = None  # "cluster/service" the target group was attached to
    alarms: list[str] = field(default_factory=list)
    priority: int | None = None  # ALB mode: the reserved priority of the service's listener rule
    rule_arn: str | None = None  # ALB mode: the listener rule portico created
    version: int | None = None  # bumped by every pass that changed the service: a pass planned on an older one is stale
    holder: str | None = None  # the pass changing the service now (a lease, until `held_until`)
    held_until: int | None = None
    nonce: str | None = None  # secret of the ledger: each object portico creates carries a token of it (`token`)

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.service, "loadBalancer": self.load_balancer,
                "port": self.port, "path": self.path, "targetGroups": self.target_groups or None,
                "listenerArn": self.listener_arn, "resources": self.resources or None, "ecs": self.ecs,
                "alarms": self.alarms or None, "priority": self.priority, "ruleArn": self.rule_arn,
                "version": self.version, "holder": self.holder,
                "heldUntil": self.held_until, "nonce": self.nonce}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Ledger:
        def num(key: str) -> int | None:
            return int(d[key]) if d.get(key) is not None else None
        return cls(service=d["service"], load_balancer=d.get("loadBalancer"), port=num("port"), path=d.get("path"),
                   target_groups=dict(d.get("targetGroups") or {}), listener_arn=d.get("listenerArn"),
                   resources=dict(d.get("resources") or {}), ecs=d.get("ecs"), alarms=list(d.get("alarms") or []),
                   priority=num("priority"), rule_arn=d.get("ruleArn"),
                   version=num("version"), holder=d.get("holder"), held_until=num("heldUntil"),
                   nonce=d.get("nonce"))

    def empty(self) -> bool:
        """Holds nothing in AWS or the table (a claim that never got to its first step)."""
        return not (self.load_balancer or self.port or self.path or self.target_groups or self.listener_arn
                    or self.resources or self.ecs or self.alarms or self.priority or self.rule_arn)


@dataclass
class StateSnapshot:
    ledgers: dict[str, Ledger] = field(default_factory=dict)
    ports: dict[tuple[str, int], str] = field(default_factory=dict)  # (lb arn, port) -> service
    priorities: dict[tuple[str, int], str] = field(default_factory=dict)  # (ALB listener arn, rule priority) -> service
    paths: dict[str, str] = field(default_factory=dict)  # path -> service
    # planning only: path -> (the service giving it up in this pass, that service's new path or None)
    handed: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    intermediates: dict[str, str] = field(default_factory=dict)  # path -> resource id
    deploys: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> {at, pending, deploymentId}
    task_definitions: dict[str, dict[str, Any]] = field(default_factory=dict)  # arn -> {networkMode, containers}
    link_version: str | None = None  # the VPC links integrations use, once `portico migrate-link` chose them
    header_secret: str | None = None  # ALB mode: the stack's secret behind each service's header value
    pool: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> a load balancer portico added to the pool

    @property
    def pool_arns(self) -> tuple[str, ...]:
        """The ARNs of the load balancers portico added to the pool (a record written before its create has none)."""
        return tuple(m["arn"] for m in self.pool.values() if m.get("arn"))
