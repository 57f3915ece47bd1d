"""Claims on a service's ledger (`svc#<service>`): a pass changes a service only while it holds its ledger.

`claim` takes it (if no other pass holds it and the ledger is still the version the plan was made from), every
save is conditional on holding it, and `unclaim` saves the final ledger one version on, held by nobody. Two
reconcilers (stream, sweeper, provider, CLI) therefore never change one service at once, and a plan made on
an older ledger is never applied.

A pass claims, renews and lets go of its services 100 to a TransactWriteItems, DynamoDB's limit ("groups up
to 100 action requests", https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html),
so the claims cost ~N/100 writes each time, not N. The items are independent (one ledger each). A cancelled
claim transaction needs no one-by-one retry to say who holds what: its CancellationReasons name, item by
item, the claims whose condition failed with the ledger as it stands (ReturnValuesOnConditionCheckFailure
ALL_OLD, the same page), so those are lost and the others are taken again in one transaction; only reasons
that settle nothing (a TransactionConflict with another pass's transaction) send the rest one by one. A
cancelled renewal or let-go (a claim that ran out and was taken) goes one by one, as rare as a lost claim.

A claim is a lease: it lasts CLAIM_SECONDS and the pass renews it (`renew`, a heartbeat every third of that)
while it works, so a pass that dies (SIGKILL, a Lambda timeout or out-of-memory kill) holds its services for
a minute at most, whatever the longest a live pass may run.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from ..errors import CANCELLED, CONDITION_FAILED, error_code
from .records import Conflict, ConflictKind, Ledger, from_item, to_item
from .table import Table

CLAIM_SECONDS = 60  # a claim not renewed for this long is a dead pass's: the next pass takes the service
RENEW_SECONDS = CLAIM_SECONDS / 3  # a live pass renews its claims this often (two renewals may fail or be late)
BATCH = 100  # DynamoDB's limit of actions per TransactWriteItems (the page above)


def _claim_update(t: Table, service: str, holder: str, version: int | None) -> dict[str, Any]:
    now = int(t.clock())
    names = {"#h": "holder", "#u": "heldUntil", "#v": "version", "#s": "service"}
    values = {":h": holder, ":until": now + CLAIM_SECONDS, ":now": now, ":s": service}
    fresh = "attribute_not_exists(#v)"
    if version is not None:
        fresh, values[":v"] = "#v = :v", version
    return {"TableName": t.name, "Key": to_item({"pk": f"svc#{service}"}),
            "UpdateExpression": "SET #s = :s, #h = :h, #u = :until",
            "ConditionExpression": f"(attribute_not_exists(#h) OR #u < :now OR #h = :h) AND {fresh}",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": to_item(values)}


def claim(t: Table, service: str, holder: str, version: int | None) -> None:
    """Hold `service`'s ledger for this pass; Conflict "busy" or "stale" when another pass got there first."""
    try:
        t.ddb.update_item(**_claim_update(t, service, holder, version))
    except ClientError as e:
        if error_code(e) != CONDITION_FAILED:
            raise
        got = t.get_many([f"svc#{service}"])
        raise _lost(t, service, holder, got[0] if got else {}) from None


def _lost(t: Table, service: str, holder: str, ledger: dict[str, Any]) -> Conflict:
    """Why a claim's condition failed on `ledger` as it stands: another live pass holds it, or it changed."""
    if ledger.get("holder") not in (None, holder) and int(ledger.get("heldUntil") or 0) >= int(t.clock()):
        return Conflict(ConflictKind.BUSY, f"service {service}", holder_text(ledger))
    return Conflict(ConflictKind.STALE, f"service {service}", "another reconcile")


def holder_text(ledger: dict[str, Any]) -> str:
    """Who holds a ledger and until when, for the entry's PENDING status."""
    until = time.strftime("%H:%M:%S UTC", time.gmtime(int(ledger.get("heldUntil") or 0)))
    return f"reconcile {str(ledger.get('holder'))[:8]} (its claim ends at {until} unless renewed)"


def renew(t: Table, services: list[str], holder: str) -> tuple[int, list[str]]:
    """The heartbeat: extend this pass's claims to CLAIM_SECONDS from now, 100 to a transaction. Returns the new
    end and the services whose claim was lost (it ran out and another pass took it): stop changing those."""
    until, lost = int(t.clock()) + CLAIM_SECONDS, []

    def update(service: str) -> dict[str, Any]:
        return {"TableName": t.name, "Key": to_item({"pk": f"svc#{service}"}), "UpdateExpression": "SET #u = :u",
                "ConditionExpression": "#h = :h", "ExpressionAttributeNames": {"#h": "holder", "#u": "heldUntil"},
                "ExpressionAttributeValues": to_item({":h": holder, ":u": until})}

    for i in range(0, len(services), BATCH):
        chunk = services[i:i + BATCH]
        if len(chunk) > 1:
            try:
                t.ddb.transact_write_items(TransactItems=[{"Update": update(s)} for s in chunk])
                continue
            except ClientError as e:
                if error_code(e) != CANCELLED:
                    raise
        for service in chunk:
            if not t.write_if(t.ddb.update_item, **{k: v for k, v in update(service).items() if k != "TableName"}):
                lost.append(service)
    return until, lost


def claim_many(t: Table, wanted: dict[str, int | None], holder: str) -> dict[str, Conflict]:
    """Claim each service (name -> the ledger version planned on); the ones lost, with why."""
    lost: dict[str, Conflict] = {}
    names = list(wanted)
    for i in range(0, len(names), BATCH):
        chunk = names[i:i + BATCH]
        while len(chunk) > 1:
            settled = _claim_chunk(t, chunk, wanted, holder)
            if settled is None:
                break
            lost.update(settled)
            chunk = [s for s in chunk if s not in settled] if settled else []
        for service in chunk:
            try:
                claim(t, service, holder, wanted[service])
            except Conflict as conflict:
                lost[service] = conflict
    return lost


def _claim_chunk(t: Table, chunk: list[str], wanted: dict[str, int | None],
                 holder: str) -> dict[str, Conflict] | None:
    """One transaction of claims: {} when all were taken, the lost ones (from the cancellation reasons, each with
    the ledger as it stands) when it was cancelled by them, None when the reasons name none: go one by one."""
    try:
        t.ddb.transact_write_items(TransactItems=[
            {"Update": {**_claim_update(t, s, holder, wanted[s]), "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}
            for s in chunk])
        return {}
    except ClientError as e:
        if error_code(e) != CANCELLED:
            raise
        reasons = e.response.get("CancellationReasons") or []
    if len(reasons) != len(chunk):
        return None
    failed = {s: r for s, r in zip(chunk, reasons, strict=True) if r.get("Code") == "ConditionalCheckFailed"}
    if not failed:
        return None
    return {s: _lost(t, s, holder, from_item(r.get("Item") or {})) for s, r in failed.items()}


def save_ledger(t: Table, ledger: Ledger) -> None:
    """Write the ledger of a service this pass holds (Conflict "stale" if it lost the claim)."""
    try:
        t.ddb.put_item(TableName=t.name, Item=to_item({"pk": f"svc#{ledger.service}", **ledger.to_dict()}),
                       ConditionExpression="#h = :h", ExpressionAttributeNames={"#h": "holder"},
                       ExpressionAttributeValues=to_item({":h": ledger.holder}))
    except ClientError as e:
        if error_code(e) != CONDITION_FAILED:
            raise
        raise Conflict(ConflictKind.STALE, f"service {ledger.service}", "another reconcile") from None


def _release(t: Table, ledger: Ledger, holder: str) -> tuple[str, dict[str, Any]]:
    """The write that lets go of a ledger: saved one version on, held by nobody (dropped when it holds nothing)."""
    done = Ledger.from_dict(ledger.to_dict())
    done.version, done.holder, done.held_until = (ledger.version or 0) + 1, None, None
    cond = {"TableName": t.name, "ConditionExpression": "#h = :h", "ExpressionAttributeNames": {"#h": "holder"},
            "ExpressionAttributeValues": to_item({":h": holder})}
    if done.empty():
        return "Delete", {**cond, "Key": to_item({"pk": f"svc#{ledger.service}"})}
    return "Put", {**cond, "Item": to_item({"pk": f"svc#{ledger.service}", **done.to_dict()})}


def unclaim_many(t: Table, ledgers: list[Ledger], holder: str) -> None:
    """The pass is done with these services. A ledger whose claim was lost is left as it is (the new holder's
    ledger stands)."""
    writes = [_release(t, ledger, holder) for ledger in ledgers]
    for i in range(0, len(writes), BATCH):
        chunk = writes[i:i + BATCH]
        if len(chunk) > 1:
            try:
                t.ddb.transact_write_items(TransactItems=[{kind: request} for kind, request in chunk])
                continue
            except ClientError as e:
                if error_code(e) != CANCELLED:
                    raise
        for kind, request in chunk:
            write = t.ddb.delete_item if kind == "Delete" else t.ddb.put_item
            try:
                write(**request)
            except ClientError as e:
                if error_code(e) != CONDITION_FAILED:
                    raise
