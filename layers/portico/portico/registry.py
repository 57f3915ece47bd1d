"""The registry table: users write service specs, portico writes status back onto the same item."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from .errors import CONDITION_FAILED, error_code
from .spec import SPEC_ATTRIBUTES
from .state import batch_get, from_item, owned_by, to_item

PENDING, READY, FAILED = "PENDING", "READY", "FAILED"
# Passes in a row that had to put the same ECS attachment back: from here on, something else owns the
# service's loadBalancers and removes portico's target group every time it applies (README, "Your ECS service").
# Repairs are "in a row" when each comes within FLAPPING_SWEEPS sweep periods of the one before; a pass that
# finds the attachment in place writes nothing (a converged pass writes no status).
FLAPPING, FLAPPING_SWEEPS = 2, 2
FLAPPING_FIX = ("make the tool that owns the ECS service leave its loadBalancers alone (Terraform: "
                "lifecycle { ignore_changes = [load_balancer] }) or declare this entry's targetGroupArn there")


def flapping(repairs: int, ecs_key: str) -> str:
    """The sentence for an attachment put back `repairs` passes in a row, with the fix."""
    return (f"ECS service {ecs_key} lost portico's target group and got it back on {repairs} passes in a row, "
            f"each rolling its tasks: {FLAPPING_FIX}")


@dataclass(frozen=True)
class Status:
    status: str
    message: str
    listener_port: int | None = None
    invoke_url: str | None = None
    target_group_arn: str | None = None
    spec_hash: str | None = None
    ecs_repairs: int | None = None  # repairs in a row of the ECS attachment (None: never repaired)
    ecs_repaired_at: int | None = None  # when the last of them was made (epoch seconds)

    def attributes(self) -> dict[str, Any]:
        return {"status": self.status, "statusMessage": self.message, "listenerPort": self.listener_port,
                "invokeUrl": self.invoke_url, "targetGroupArn": self.target_group_arn, "specHash": self.spec_hash,
                "ecsRepairs": self.ecs_repairs, "ecsRepairedAt": self.ecs_repaired_at}


def ecs_repairs(item: dict[str, Any], repaired: bool, now: float, sweep_seconds: float) -> tuple[int | None,
                                                                                            int | None, bool]:
    """(repairs in a row, when the last was made, flapping now) after a pass that did or did not repair the
    attachment: a repair within FLAPPING_SWEEPS sweeps of the last one adds to the count, a later one starts
    again at 1; a pass without a repair keeps both as they are."""
    count, at = item.get("ecsRepairs"), item.get("ecsRepairedAt")
    window = FLAPPING_SWEEPS * sweep_seconds
    recent = at is not None and now - int(at) <= window
    if repaired:
        count, at = (int(count or 0) + 1 if recent else 1), int(now)
        recent = True
    count = None if count is None else int(count)
    return count, None if at is None else int(at), bool(recent and count and count >= FLAPPING)


@dataclass
class _Update:
    """One UpdateItem's expressions, built clause by clause; `ref` names a clause's placeholders (#ref, :ref)."""

    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    sets: list[str] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    conds: list[str] = field(default_factory=list)

    def assign(self, ref: str, attribute: str, value: Any) -> None:
        """SET `attribute` to `value`; None REMOVEs it."""
        self.names[f"#{ref}"] = attribute
        if value is None:
            self.removes.append(f"#{ref}")
        else:
            self.values[f":{ref}"] = value
            self.sets.append(f"#{ref} = :{ref}")

    def expect(self, ref: str, attribute: str, value: Any, *, exists: bool) -> None:
        """Condition: `attribute` still equals `value`, or is still absent when not `exists`."""
        self.names[f"#{ref}"] = attribute
        if exists:
            self.values[f":{ref}"] = value
            self.conds.append(f"#{ref} = :{ref}")
        else:
            self.conds.append(f"attribute_not_exists(#{ref})")

    def request(self) -> dict[str, Any]:
        removes = " REMOVE " + ", ".join(self.removes) if self.removes else ""
        return {"UpdateExpression": "SET " + ", ".join(self.sets) + removes,
                "ConditionExpression": " AND ".join(self.conds),
                "ExpressionAttributeNames": self.names, "ExpressionAttributeValues": to_item(self.values)}


class Registry:
    def __init__(self, dynamodb, table: str, *, clock=time.time, sleep=time.sleep):
        self.ddb, self.table, self.clock, self.sleep = dynamodb, table, clock, sleep

    def get(self, service: str) -> dict[str, Any] | None:
        got = self.ddb.get_item(TableName=self.table, Key={"service": {"S": service}}, ConsistentRead=True)
        return from_item(got["Item"]) if "Item" in got else None

    def get_many(self, services: list[str]) -> dict[str, dict[str, Any]]:
        """Consistent reads of any number of keys (BatchGetItem, unprocessed keys retried)."""
        keys = [{"service": {"S": s}} for s in dict.fromkeys(services)]
        return {item["service"]: item for item in batch_get(self.ddb, self.table, keys, sleep=self.sleep)}

    def scan(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for page in self.ddb.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True):
            for raw in page.get("Items", []):
                item = from_item(raw)
                if isinstance(item.get("service"), str):
                    out[item["service"]] = item
        return out

    def put_spec(self, spec_item: dict[str, Any], *, owner: str | None = None,
                 expect_owner: str | None = None) -> None:
        """Write a spec (replacing the item, so old status goes away) with status PENDING.

        `expect_owner`: refuse to overwrite an item that exists and has a different `owner`.
        """
        item = {k: v for k, v in spec_item.items() if k in SPEC_ATTRIBUTES and v is not None}
        item.update(status=PENDING, statusMessage="waiting for portico to reconcile this entry")
        if owner:
            item["owner"] = owner
        kwargs: dict[str, Any] = {}
        if expect_owner is not None:
            kwargs = owned_by(expect_owner, key="service")
        self.ddb.put_item(TableName=self.table, Item=to_item(item), **kwargs)

    def delete(self, service: str, *, expect_owner: str | None = None) -> None:
        kwargs: dict[str, Any] = {}
        if expect_owner is not None:
            kwargs = owned_by(expect_owner, key="service")
        self.ddb.delete_item(TableName=self.table, Key={"service": {"S": service}}, **kwargs)

    def write_status(self, item: dict[str, Any], status: Status, *, started: float | None = None,
                     held: bool = False) -> bool:
        """Write status onto the item read as `item`, only if its spec is unchanged and status differs.

        The condition on every spec attribute keeps an old result from overwriting a newer spec's
        status; skipping unchanged status keeps the stream quiet (no reconcile loop). `started`: when the
        writing pass started; it is stored with the status (`passStartedAt`, ms) and a pass never replaces
        the status of a pass that started after it (two reconcilers may finish in either order). Returns
        True when a write happened. `held`: the status of an entry another pass holds (PENDING, naming it),
        written only while no pass has written since this one read the entry, and without advancing
        `passStartedAt`, so the holder's own result still lands.
        """
        wanted = status.attributes()
        if all(item.get(k) == v for k, v in wanted.items()):
            return False
        update = _Update()
        for i, (k, v) in enumerate(wanted.items()):
            update.assign(f"a{i}", k, v)
        update.assign("at", "reconciledAt", int(self.clock()))
        if held:
            update.expect("ps", "passStartedAt", item.get("passStartedAt"),
                          exists=item.get("passStartedAt") is not None)
        elif started is not None:
            update.assign("ps", "passStartedAt", int(started * 1000))
            update.conds.append("(attribute_not_exists(#ps) OR #ps <= :ps)")
        for i, k in enumerate(SPEC_ATTRIBUTES):
            update.expect(f"c{i}", k, item.get(k), exists=k in item)
        try:
            self.ddb.update_item(TableName=self.table, Key={"service": {"S": item["service"]}}, **update.request())
            return True
        except ClientError as e:
            if error_code(e) == CONDITION_FAILED:
                return False  # the spec changed, the item went away or a later pass wrote: theirs stands
            raise
