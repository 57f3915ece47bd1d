"""Reservations: a listener port (or, in ALB mode, a rule priority) and an API path are each held by one owner.

They are taken in one DynamoDB transaction with conditions, so two reconciles can never both win a port or a
path; a path's ancestors are checked in the same transaction, and each ancestor's `sub#` item collects the
services routed below it. Released ones are plain deletes, reusable at once. Functions of the table's items
(`Table`); StateTable's methods of the same names call them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from ..errors import CANCELLED, error_code
from .records import Conflict, ConflictKind, owned_by, to_item
from .table import Table

RETIRE_SECONDS = 300  # a retiring mark older than this is a crashed pass's: reservations below pass again
PATH, RETIRING, BUSY = ConflictKind.PATH, ConflictKind.RETIRING, ConflictKind.BUSY


@dataclass(frozen=True)
class Handover:
    """A path taken from the service leaving it in this pass (`giver`), only while this pass (`holder`) holds the
    giver's ledger; the giver is no longer routed below the ancestors in `leaves`."""

    giver: str
    holder: str
    leaves: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reservation:
    """What one service takes in one transaction: a slot on the load balancer (a listener port, or, `listener`
    given (ALB mode), its rule priority on that listener) and an API path below `ancestors`. `target_groups`,
    `ecs` and `nonce` are recorded on the ledger with it (the target group's name and the ECS service the pass is
    about to use), so no write-ahead save is needed later."""

    service: str
    load_balancer: str
    slot: int
    path: str
    ancestors: tuple[str, ...] = ()
    listener: str | None = None
    target_groups: dict[str, str] = field(default_factory=dict)
    ecs: str | None = None
    nonce: str | None = None
    handover: Handover | None = None

    @property
    def attribute(self) -> str:
        """The ledger attribute of the slot."""
        return "priority" if self.listener else "port"

    @property
    def slot_key(self) -> str:
        return f"rule#{self.listener}#{self.slot}" if self.listener else f"port#{self.load_balancer}#{self.slot}"

    def held(self) -> list[tuple[ConflictKind, str, str]]:
        """(conflict kind, what it is for the user, item key) of each reservation another owner may hold: the
        slot, the path, its ancestors."""
        lb = self.load_balancer
        slot = (ConflictKind.PRIORITY, f"rule priority {self.slot}") if self.listener else \
            (ConflictKind.PORT, f"port {self.slot} on {lb.rsplit('/', 2)[-2] if '/' in lb else lb}")
        return [(*slot, self.slot_key), *((PATH, f"path {p}", f"path#{p}") for p in (self.path, *self.ancestors))]


def _reserve_items(t: Table, r: Reservation) -> list[dict[str, Any]]:
    """The transaction items of one reservation: the slot, the path and the ledger, then `_below_items`."""
    intent = {k: v for k, v in (("targetGroups", r.target_groups), ("ecs", r.ecs), ("nonce", r.nonce)) if v}
    path_cond = owned_by(r.service)
    if r.handover:
        path_cond = {"ConditionExpression": "attribute_not_exists(pk) OR #o = :o OR #o = :g",
                     "ExpressionAttributeNames": {"#o": "owner"},
                     "ExpressionAttributeValues": {":o": {"S": r.service}, ":g": {"S": r.handover.giver}}}
    return [
        {"Put": {"TableName": t.name, "Item": to_item({"pk": r.slot_key, "owner": r.service}), **owned_by(r.service)}},
        {"Put": {"TableName": t.name, "Item": to_item({"pk": f"path#{r.path}", "owner": r.service}), **path_cond}},
        {"Update": {"TableName": t.name, "Key": to_item({"pk": f"svc#{r.service}"}),
                    "UpdateExpression": "SET service = :s, loadBalancer = :lb, #p = :p, #path = :path"
                                        + "".join(f", #i{i} = :i{i}" for i in range(len(intent))),
                    "ExpressionAttributeNames": {"#p": r.attribute, "#path": "path",
                                                 **{f"#i{i}": k for i, k in enumerate(intent)}},
                    "ExpressionAttributeValues": to_item({
                        ":s": r.service, ":lb": r.load_balancer, ":p": r.slot, ":path": r.path,
                        **{f":i{i}": v for i, v in enumerate(intent.values())}})}},
        *_below_items(t, r),
    ]


def _below_items(t: Table, r: Reservation) -> list[dict[str, Any]]:
    """The ancestors are no other service's paths, no other service is routed below the path (`sub#`), this one is
    now routed below each ancestor, no ancestor is being deleted, and the giver's ledger is still this pass's."""
    mine = owned_by(r.service)
    items = [{"ConditionCheck": {"TableName": t.name, "Key": to_item({"pk": f"path#{a}"}), **mine}}
             for a in r.ancestors]
    items.append({"ConditionCheck": {
        "TableName": t.name, "Key": to_item({"pk": f"sub#{r.path}"}),
        "ConditionExpression": "attribute_not_exists(#b) OR (size(#b) = :one AND contains(#b, :s))",
        "ExpressionAttributeNames": {"#b": "below"},
        "ExpressionAttributeValues": {":one": {"N": "1"}, ":s": {"S": r.service}}}})
    items += [{"Update": {"TableName": t.name, "Key": to_item({"pk": f"sub#{a}"}),
                          "UpdateExpression": "ADD #b :me", "ExpressionAttributeNames": {"#b": "below"},
                          "ExpressionAttributeValues": {":me": {"SS": [r.service]}}}} for a in r.ancestors]
    # No ancestor is an intermediate resource another pass is deleting (`retire`): its delete would take the
    # route's resources with it. A mark older than RETIRE_SECONDS is a crashed pass's, and void.
    stale = to_item({":stale": int(t.clock()) - RETIRE_SECONDS})
    items += [{"ConditionCheck": {"TableName": t.name, "Key": to_item({"pk": f"res#{a}"}),
                                  "ConditionExpression": "attribute_not_exists(#r) OR #r < :stale",
                                  "ExpressionAttributeNames": {"#r": "retiring"},
                                  "ExpressionAttributeValues": stale}} for a in r.ancestors]
    if r.handover:
        items.append({"ConditionCheck": {"TableName": t.name, "Key": to_item({"pk": f"svc#{r.handover.giver}"}),
                                         "ConditionExpression": "#h = :h", "ExpressionAttributeNames": {"#h": "holder"},
                                         "ExpressionAttributeValues": to_item({":h": r.handover.holder})}})
    return items


def reserve(t: Table, r: Reservation) -> None:
    """Claim the slot and the path for the service atomically; idempotent for the same owner.

    Ancestor paths must not be owned by another service (a route under another's route would be
    shadowed by its {proxy+}); that is checked inside the same transaction. The other direction too:
    each ancestor's `sub#` item collects the services routed below it, and a path whose `sub#` item
    names another service is refused, so two reconciles can never take /a and /a/b at the same time.
    """
    try:
        t.ddb.transact_write_items(TransactItems=_reserve_items(t, r))
    except ClientError as e:
        if error_code(e) != CANCELLED:
            raise
        below = sorted(_below(t, r.path) - {r.service})
        conflict = _named(t, r, below, e.response.get("CancellationReasons") or []) or _read(t, r, below)
        if conflict is None:
            raise
        raise conflict from None
    for a in r.handover.leaves if r.handover else ():  # the giver is no longer routed below these
        t.ddb.update_item(TableName=t.name, Key=to_item({"pk": f"sub#{a}"}), UpdateExpression="DELETE #b :g",
                          ExpressionAttributeNames={"#b": "below"},
                          ExpressionAttributeValues={":g": {"SS": [r.handover.giver]}})


def _named(t: Table, r: Reservation, below: list[str], reasons: list[dict[str, Any]]) -> Conflict | None:
    """The conflict a cancelled reservation's CancellationReasons name. They follow the order of TransactItems
    (docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CancellationReason.html): the slot, the path, the
    ledger, the ancestors, `sub#` (named by a service routed below the path), the `sub#` updates (no condition),
    the retiring checks, the giver's ledger."""
    held = r.held()
    guards = [*held[:2], None, *held[2:], (PATH, f"path {r.path}/…", None), *[None] * len(r.ancestors),
              *((RETIRING, a, None) for a in r.ancestors), *([(BUSY, r.handover.giver, None)] if r.handover else [])]
    for guard, reason in zip(guards, reasons, strict=False):
        if not guard or reason.get("Code") != "ConditionalCheckFailed":
            continue
        kind, key, pk = guard
        if kind is RETIRING:
            return _retiring(key)
        if kind is BUSY:
            return _giver_busy(key)
        if pk or below:
            return Conflict(kind, key, _owner(t, pk) if pk else below[0])
    return None


def _read(t: Table, r: Reservation, below: list[str]) -> Conflict | None:
    """moto and older APIs may not say which item failed: find out by reading."""
    for kind, key, pk in r.held():
        owner = _owner(t, pk)
        if owner and owner != r.service and not (r.handover and pk == f"path#{r.path}" and owner == r.handover.giver):
            return Conflict(kind, key, owner)
    if below:
        return Conflict(PATH, f"path {r.path}/…", below[0])
    for a in r.ancestors:
        if int((t.get(f"res#{a}") or {}).get("retiring") or 0) >= int(t.clock()) - RETIRE_SECONDS:
            return _retiring(a)
    if r.handover and (t.get(f"svc#{r.handover.giver}") or {}).get("holder") != r.handover.holder:
        return _giver_busy(r.handover.giver)
    return None


def _giver_busy(giver: str) -> Conflict:
    """The service leaving the path is no longer held by this pass (another pass took it): re-planned."""
    return Conflict(ConflictKind.BUSY, f"service {giver}", "another reconcile")


def _retiring(path: str) -> Conflict:
    """A lost race, re-planned: once the other pass has deleted the resource, this one creates it again."""
    return Conflict(ConflictKind.RETIRING, f"API resource {path}", "a reconcile that is deleting it")

def reserve_many(t: Table, reservations: list[Reservation]) -> bool:
    """Several services' reservations in one transaction: all are taken or
    none. Their keys must be disjoint (top-level paths: nested ones share their ancestors' items). False
    when it was cancelled: reserve them one by one then, which says who holds what."""
    try:
        t.ddb.transact_write_items(TransactItems=[it for r in reservations for it in _reserve_items(t, r)])
        return True
    except ClientError as e:
        if error_code(e) != CANCELLED:
            raise
        return False

def retire(t: Table, path: str, leaving: list[str]) -> bool:
    """Before portico deletes the intermediate resource at `path` (which deletes everything below it): mark it
    retiring, in one transaction with the check that no service is routed below it once the pass's `leaving`
    services (offboarded or moved away, released later in the pass) are dropped from `sub#`. False: a service
    reserved a path below it since the pass read the state, and the resource stays (or another pass deleted
    it). Reservations below a retiring path are refused (`_reserve_items`), so nothing is created under it while
    it is deleted."""
    if leaving:
        t.ddb.update_item(TableName=t.name, Key=to_item({"pk": f"sub#{path}"}), UpdateExpression="DELETE #b :gone",
                          ExpressionAttributeNames={"#b": "below"},
                          ExpressionAttributeValues={":gone": {"SS": sorted(leaving)}})
    try:
        t.ddb.transact_write_items(TransactItems=[
            {"ConditionCheck": {"TableName": t.name, "Key": to_item({"pk": f"sub#{path}"}),
                                "ConditionExpression": "attribute_not_exists(#b) OR size(#b) = :zero",
                                "ExpressionAttributeNames": {"#b": "below"},
                                "ExpressionAttributeValues": {":zero": {"N": "0"}}}},
            {"Update": {"TableName": t.name, "Key": to_item({"pk": f"res#{path}"}),
                        "ConditionExpression": "attribute_exists(pk)",  # else another pass deleted it already
                        "UpdateExpression": "SET #r = :now", "ExpressionAttributeNames": {"#r": "retiring"},
                        "ExpressionAttributeValues": to_item({":now": int(t.clock())})}}])
        return True
    except ClientError as e:
        if error_code(e) != CANCELLED:
            raise
        return False

def unretire(t: Table, path: str) -> None:
    """The delete did not happen: reservations below `path` are allowed again at once."""
    t.write_if(t.ddb.update_item, Key=to_item({"pk": f"res#{path}"}), UpdateExpression="REMOVE #r",
               ConditionExpression="attribute_exists(pk)", ExpressionAttributeNames={"#r": "retiring"})

def _below(t: Table, path: str) -> set[str]:
    return set((t.get(f"sub#{path}") or {}).get("below") or ())

def _release_below(t: Table, service: str, path: str) -> None:
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        t.ddb.update_item(TableName=t.name, Key=to_item({"pk": "sub#/" + "/".join(parts[:i])}),
                          UpdateExpression="DELETE #b :me", ExpressionAttributeNames={"#b": "below"},
                          ExpressionAttributeValues={":me": {"SS": [service]}})

def reserve_port(t: Table, owner: str, lb: str, port: int) -> None:
    """Claim one listener port for a non-service owner (e.g. a CloudFormation `Custom::ListenerPort`).

    Same key and condition as `reserve`, so a port is held by exactly one service or one such owner.
    """
    if not t.write_if(t.ddb.put_item, Item=to_item({"pk": f"port#{lb}#{port}", "owner": owner}), **owned_by(owner)):
        raise Conflict(ConflictKind.PORT, f"port {port}", _owner(t, f"port#{lb}#{port}"))

def _owner(t: Table, pk: str) -> str | None:
    return (t.get(pk) or {}).get("owner")

def release(t: Table, service: str, lb: str | None, port: int | None, path: str | None) -> None:
    """Drop the service's reservations and ledger. Only items still owned by `service` are deleted."""
    if lb and port:
        release_port(t, service, lb, port)
    if path:
        release_path(t, service, path)
    t.delete(f"svc#{service}")

def release_port(t: Table, service: str, lb: str, port: int) -> None:
    _delete_owned(t, f"port#{lb}#{port}", service)

def release_priority(t: Table, service: str, listener: str, priority: int) -> None:
    _delete_owned(t, f"rule#{listener}#{priority}", service)

def release_path(t: Table, service: str, path: str) -> None:
    _release_below(t, service, path)
    _delete_owned(t, f"path#{path}", service)

def _delete_owned(t: Table, pk: str, service: str) -> None:
    t.write_if(t.ddb.delete_item, Key=to_item({"pk": pk}), **owned_by(service))
