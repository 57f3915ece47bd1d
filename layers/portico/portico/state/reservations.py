"""Reservations: a listener port (or, in ALB mode, a rule priority) and an API path are each held by one owner.

They are taken in one DynamoDB transaction with conditions, so two reconciles can never both win a port or a
path; a path's ancestors are checked in the same transaction, and each ancestor's `sub#` item collects the
services routed below it. Released ones are plain deletes, reusable at once. Functions of the StateTable,
bound to it as its methods (`StateTable.reserve`, …).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ..errors import CANCELLED, error_code
from .records import Conflict, ConflictKind, owned_by, to_item

if TYPE_CHECKING:
    from . import StateTable

RETIRE_SECONDS = 300  # a retiring mark older than this is a crashed pass's: reservations below pass again


def _slot(lb: str, number: int, listener: str | None) -> tuple[str, str, str]:
    """(item key, ledger attribute, what it is for the user) of a reservation's number: a listener port on
    the load balancer, or (`listener` given, ALB mode) a rule priority on that listener."""
    if listener:
        return f"rule#{listener}#{number}", "priority", f"rule priority {number}"
    return f"port#{lb}#{number}", "port", f"port {number} on {lb.rsplit('/', 2)[-2] if '/' in lb else lb}"

def _reserve_items(t: StateTable, service: str, lb: str, port: int, path: str, ancestors: list[str],
                   intent: dict[str, Any] | None = None, listener: str | None = None,
                   giver: tuple[str, str, list[str]] | None = None) -> list[dict[str, Any]]:
    """The transaction items of one reservation. `intent`: ledger attributes recorded with it (the target
    group's name and the ECS service the pass is about to use), so no write-ahead save is needed later.
    `listener` (ALB mode): `port` is the service's rule priority on that listener, not a port. `giver`: (the
    service leaving the path in this pass, the pass's holder id, ancestors it leaves): the path is taken from
    it, only while this pass holds its ledger (checked last)."""
    intent = {k: v for k, v in (intent or {}).items() if v}
    owner_cond = owned_by(service)
    path_cond = owner_cond
    if giver:
        path_cond = {"ConditionExpression": "attribute_not_exists(pk) OR #o = :o OR #o = :g",
                     "ExpressionAttributeNames": {"#o": "owner"},
                     "ExpressionAttributeValues": {":o": {"S": service}, ":g": {"S": giver[0]}}}
    slot, attribute, _ = _slot(lb, port, listener)
    items = [
        {"Put": {"TableName": t.table, "Item": to_item({"pk": slot, "owner": service}),
                 **owner_cond}},
        {"Put": {"TableName": t.table, "Item": to_item({"pk": f"path#{path}", "owner": service}),
                 **path_cond}},
        {"Update": {"TableName": t.table, "Key": to_item({"pk": f"svc#{service}"}),
                    "UpdateExpression": "SET service = :s, loadBalancer = :lb, #p = :p, #path = :path"
                                        + "".join(f", #i{i} = :i{i}" for i in range(len(intent))),
                    "ExpressionAttributeNames": {"#p": attribute, "#path": "path",
                                                 **{f"#i{i}": k for i, k in enumerate(intent)}},
                    "ExpressionAttributeValues": to_item({
                        ":s": service, ":lb": lb, ":p": port, ":path": path,
                        **{f":i{i}": v for i, v in enumerate(intent.values())}})}},
    ]
    items += [{"ConditionCheck": {"TableName": t.table, "Key": to_item({"pk": f"path#{a}"}), **owner_cond}}
              for a in ancestors]
    items.append({"ConditionCheck": {
        "TableName": t.table, "Key": to_item({"pk": f"sub#{path}"}),
        "ConditionExpression": "attribute_not_exists(#b) OR (size(#b) = :one AND contains(#b, :s))",
        "ExpressionAttributeNames": {"#b": "below"},
        "ExpressionAttributeValues": {":one": {"N": "1"}, ":s": {"S": service}}}})
    items += [{"Update": {"TableName": t.table, "Key": to_item({"pk": f"sub#{a}"}),
                          "UpdateExpression": "ADD #b :me", "ExpressionAttributeNames": {"#b": "below"},
                          "ExpressionAttributeValues": {":me": {"SS": [service]}}}} for a in ancestors]
    # No ancestor is an intermediate resource another pass is deleting (`retire`): its delete would take the
    # route's resources with it. A mark older than RETIRE_SECONDS is a crashed pass's, and void.
    stale = to_item({":stale": int(t.clock()) - RETIRE_SECONDS})
    items += [{"ConditionCheck": {"TableName": t.table, "Key": to_item({"pk": f"res#{a}"}),
                                  "ConditionExpression": "attribute_not_exists(#r) OR #r < :stale",
                                  "ExpressionAttributeNames": {"#r": "retiring"},
                                  "ExpressionAttributeValues": stale}} for a in ancestors]
    if giver:
        items.append({"ConditionCheck": {"TableName": t.table, "Key": to_item({"pk": f"svc#{giver[0]}"}),
                                         "ConditionExpression": "#h = :h", "ExpressionAttributeNames": {"#h": "holder"},
                                         "ExpressionAttributeValues": to_item({":h": giver[1]})}})
    return items

def reserve(t: StateTable, service: str, lb: str, port: int, path: str, ancestors: list[str],
            intent: dict[str, Any] | None = None, listener: str | None = None,
            giver: tuple[str, str, list[str]] | None = None) -> None:
    """Claim (lb, port) and path for `service` atomically; idempotent for the same owner.

    Ancestor paths must not be owned by another service (a route under another's route would be
    shadowed by its {proxy+}); that is checked inside the same transaction. The other direction too:
    each ancestor's `sub#` item collects the services routed below it, and a path whose `sub#` item
    names another service is refused, so two reconciles can never take /a and /a/b at the same time.
    """
    items = _reserve_items(t, service, lb, port, path, ancestors, intent, listener, giver)
    try:
        t.ddb.transact_write_items(TransactItems=items)
        for a in giver[2] if giver else ():  # the giver is no longer routed below these
            t.ddb.update_item(TableName=t.table, Key=to_item({"pk": f"sub#{a}"}), UpdateExpression="DELETE #b :g",
                              ExpressionAttributeNames={"#b": "below"},
                              ExpressionAttributeValues={":g": {"SS": [giver[0]]}})
    except ClientError as e:
        if error_code(e) != CANCELLED:
            raise
        # What each item guards: CancellationReasons follow the order of TransactItems (the port, the path,
        # the ledger, the ancestors, then `sub#`; docs.aws.amazon.com/amazondynamodb/latest/APIReference/
        # API_CancellationReason.html). `sub#` is named by a service routed below the path.
        slot, attribute, what = _slot(lb, port, listener)
        held = [(attribute, what, slot),
                *(("path", f"path {p}", f"path#{p}") for p in (path, *ancestors))]
        sub = ("path", f"path {path}/…", None)
        below = sorted(_below(t, path) - {service})
        # The sub# updates after `sub` have no condition; the retiring checks come last.
        guards = [*held[:2], None, *held[2:], sub, *[None] * len(ancestors), *(("retiring", a) for a in ancestors),
                  *([("giver", giver[0])] if giver else [])]
        for guard, reason in zip(guards, e.response.get("CancellationReasons") or [], strict=False):
            if not guard or reason.get("Code") != "ConditionalCheckFailed":
                continue
            if guard[0] == "retiring":
                raise _retiring(guard[1]) from None
            if guard[0] == "giver":
                raise _giver_busy(giver[0]) from None
            if guard[2] or below:
                raise Conflict(guard[0], guard[1], _owner(t, guard[2]) if guard[2] else below[0]) from None
        # moto and older APIs may not say which item failed: find out by reading.
        for kind, key, pk in held:
            owner = _owner(t, pk)
            if owner and owner != service and not (giver and pk == f"path#{path}" and owner == giver[0]):
                raise Conflict(kind, key, owner) from None
        if below:
            raise Conflict(sub[0], sub[1], below[0]) from None
        for a in ancestors:
            if int((t._get(f"res#{a}") or {}).get("retiring") or 0) >= int(t.clock()) - RETIRE_SECONDS:
                raise _retiring(a) from None
        if giver and (t._get(f"svc#{giver[0]}") or {}).get("holder") != giver[1]:
            raise _giver_busy(giver[0]) from None
        raise


def _giver_busy(giver: str) -> Conflict:
    """The service leaving the path is no longer held by this pass (another pass took it): re-planned."""
    return Conflict(ConflictKind.BUSY, f"service {giver}", "another reconcile")


def _retiring(path: str) -> Conflict:
    """A lost race, re-planned: once the other pass has deleted the resource, this one creates it again."""
    return Conflict(ConflictKind.RETIRING, f"API resource {path}", "a reconcile that is deleting it")

def reserve_many(t: StateTable, reservations: list[tuple]) -> bool:
    """Several services' reservations (`reserve`'s arguments each) in one transaction: all are taken or
    none. Their keys must be disjoint (top-level paths: nested ones share their ancestors' items). False
    when it was cancelled: reserve them one by one then, which says who holds what."""
    try:
        t.ddb.transact_write_items(TransactItems=[it for r in reservations for it in _reserve_items(t, *r)])
        return True
    except ClientError as e:
        if error_code(e) != CANCELLED:
            raise
        return False

def retire(t: StateTable, path: str, leaving: list[str]) -> bool:
    """Before portico deletes the intermediate resource at `path` (which deletes everything below it): mark it
    retiring, in one transaction with the check that no service is routed below it once the pass's `leaving`
    services (offboarded or moved away, released later in the pass) are dropped from `sub#`. False: a service
    reserved a path below it since the pass read the state, and the resource stays (or another pass deleted
    it). Reservations below a retiring path are refused (`_reserve_items`), so nothing is created under it while
    it is deleted."""
    if leaving:
        t.ddb.update_item(TableName=t.table, Key=to_item({"pk": f"sub#{path}"}), UpdateExpression="DELETE #b :gone",
                          ExpressionAttributeNames={"#b": "below"},
                          ExpressionAttributeValues={":gone": {"SS": sorted(leaving)}})
    try:
        t.ddb.transact_write_items(TransactItems=[
            {"ConditionCheck": {"TableName": t.table, "Key": to_item({"pk": f"sub#{path}"}),
                                "ConditionExpression": "attribute_not_exists(#b) OR size(#b) = :zero",
                                "ExpressionAttributeNames": {"#b": "below"},
                                "ExpressionAttributeValues": {":zero": {"N": "0"}}}},
            {"Update": {"TableName": t.table, "Key": to_item({"pk": f"res#{path}"}),
                        "ConditionExpression": "attribute_exists(pk)",  # else another pass deleted it already
                        "UpdateExpression": "SET #r = :now", "ExpressionAttributeNames": {"#r": "retiring"},
                        "ExpressionAttributeValues": to_item({":now": int(t.clock())})}}])
        return True
    except ClientError as e:
        if error_code(e) != CANCELLED:
            raise
        return False

def unretire(t: StateTable, path: str) -> None:
    """The delete did not happen: reservations below `path` are allowed again at once."""
    t._if(t.ddb.update_item, Key=to_item({"pk": f"res#{path}"}), UpdateExpression="REMOVE #r",
          ConditionExpression="attribute_exists(pk)", ExpressionAttributeNames={"#r": "retiring"})

def _below(t: StateTable, path: str) -> set[str]:
    return set((t._get(f"sub#{path}") or {}).get("below") or ())

def _release_below(t: StateTable, service: str, path: str) -> None:
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        t.ddb.update_item(TableName=t.table, Key=to_item({"pk": "sub#/" + "/".join(parts[:i])}),
                             UpdateExpression="DELETE #b :me", ExpressionAttributeNames={"#b": "below"},
                             ExpressionAttributeValues={":me": {"SS": [service]}})

def reserve_port(t: StateTable, owner: str, lb: str, port: int) -> None:
    """Claim one listener port for a non-service owner (e.g. a CloudFormation `Custom::ListenerPort`).

    Same key and condition as `reserve`, so a port is held by exactly one service or one such owner.
    """
    if not t._if(t.ddb.put_item, Item=to_item({"pk": f"port#{lb}#{port}", "owner": owner}),
                    **owned_by(owner)):
        raise Conflict(ConflictKind.PORT, f"port {port}", _owner(t, f"port#{lb}#{port}"))

def _owner(t: StateTable, pk: str) -> str | None:
    return (t._get(pk) or {}).get("owner")

def release(t: StateTable, service: str, lb: str | None, port: int | None, path: str | None) -> None:
    """Drop the service's reservations and ledger. Only items still owned by `service` are deleted."""
    if lb and port:
        release_port(t, service, lb, port)
    if path:
        release_path(t, service, path)
    t._delete(f"svc#{service}")

def release_port(t: StateTable, service: str, lb: str, port: int) -> None:
    _delete_owned(t, f"port#{lb}#{port}", service)

def release_priority(t: StateTable, service: str, listener: str, priority: int) -> None:
    _delete_owned(t, f"rule#{listener}#{priority}", service)

def release_path(t: StateTable, service: str, path: str) -> None:
    _release_below(t, service, path)
    _delete_owned(t, f"path#{path}", service)

def _delete_owned(t: StateTable, pk: str, service: str) -> None:
    t._if(t.ddb.delete_item, Key=to_item({"pk": pk}), **owned_by(service))
