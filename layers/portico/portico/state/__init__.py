"""portico's own table: the ledger of what it created, and the reservations that make ports and paths unique.

Items (partition key `pk`):
  svc#<service>        ledger: load balancer, port, path, target group, listener, API resource ids
  port#<lb arn>#<port> reservation: owner service (a listener port on one NLB), or `cfn:<stack id>#<logical
                       id>` for a CloudFormation Custom::ListenerPort (not a service: never released by reconciles)
  rule#<listener arn>#<priority>  reservation: owner service (ALB mode: a listener rule's priority on the ALB
                       listener; taken in the same transaction, with the same condition, as a port)
  path#<path>          reservation: owner service (an API path)
  sub#<path>           the services routed below a path (`below`), so no two reconciles take /a and /a/b
  res#<path>           an intermediate API resource portico created (e.g. /team for /team/orders)
  deploy#<stage>       last deployment time, a `pending` flag set before API changes, and the VPC links each
                       of the stage's last KEEP_LINKS deployments routes through (`links`: prune, rollback)
  lock#<name>          a short lease (read-modify-write of an ECS service's loadBalancers)
  td#<task def arn>    what a pass read of an (immutable) task definition revision (`expiresAt`)
  cfn#<service>        which CloudFormation resource (stack, logical id) holds a Custom::ServiceRoute entry
  cfnreq#<request id>  the answer given to a CloudFormation request (re-sent on redelivery; `expiresAt`)
  stagehist#<stage>    the deployments a stage pointed to (promote, rollback), as JSON `events`
  link#version         the VPC links integrations use ("v1" or "v2"), written by `portico migrate-link`
                       before it moves them, so a pass cut short is finished by the next one

Reservations are taken in one DynamoDB transaction with conditions, so two reconciles can never both
win a port or a path. Released ports are plain deletes and become reusable at once. The values (Ledger,
StateSnapshot) and the item form are in `records`; every key is written here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from ..errors import CONDITION_FAILED, error_code
from . import claims as ledger_claims
from .records import Conflict, Ledger, StateSnapshot, batch_get, from_item, owned_by, to_item

KEEP_LINKS = 300  # deployments whose VPC links are remembered: more than the stages' histories hold (100 each)


class StateTable:
    def __init__(self, dynamodb, table: str, *, clock=time.time):
        self.ddb, self.table, self.clock = dynamodb, table, clock

    # -- one item (unconditional; consistent reads) -------------------------------------------------
    def _get(self, pk: str) -> dict[str, Any] | None:
        got = self.ddb.get_item(TableName=self.table, Key=to_item({"pk": pk}), ConsistentRead=True).get("Item")
        return from_item(got) if got else None

    def _put(self, pk: str, **attributes: Any) -> None:
        self.ddb.put_item(TableName=self.table, Item=to_item({"pk": pk, **attributes}))

    def _delete(self, pk: str) -> None:
        self.ddb.delete_item(TableName=self.table, Key=to_item({"pk": pk}))

    def _if(self, write: Callable[..., Any], **request: Any) -> bool:
        """One conditional write (put_item or delete_item); False when its condition did not hold."""
        try:
            write(TableName=self.table, **request)
            return True
        except ClientError as e:
            if error_code(e) != CONDITION_FAILED:
                raise
            return False

    # -- reads -------------------------------------------------------------------------------------
    def snapshot(self) -> StateSnapshot:
        snap = StateSnapshot()
        for page in self.ddb.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True):
            for raw in page.get("Items", []):
                self._file(snap, from_item(raw))
        return snap

    @staticmethod
    def _file(snap: StateSnapshot, d: dict[str, Any]) -> None:
        """File one item of the table under its kind (the `pk` prefix)."""
        kind, _, rest = d["pk"].partition("#")
        if kind == "svc":
            snap.ledgers[rest] = Ledger.from_dict(d)
        elif kind == "port":
            lb, _, port = rest.rpartition("#")
            snap.ports[(lb, int(port))] = d["owner"]
        elif kind == "rule":
            listener, _, priority = rest.rpartition("#")
            snap.priorities[(listener, int(priority))] = d["owner"]
        elif kind == "path":
            snap.paths[rest] = d["owner"]
        elif kind == "res":
            snap.intermediates[rest] = d["resourceId"]
        elif kind == "deploy":
            snap.deploys[rest] = d
        elif kind == "td":
            snap.task_definitions[rest] = d
        elif kind == "link":
            snap.link_version = d["version"]

    def claims(self, service: str, path: str) -> StateSnapshot:
        """The part of the snapshot that decides whether `service` may take `path`, in two BatchGetItems
        whatever the number of services: its ledger, the reservations of the path and its ancestors, the
        intermediate resource at the path, and the paths of the services routed below it (`sub#`)."""
        parts = path.strip("/").split("/")
        prefixes = ["/" + "/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        snap, below = StateSnapshot(), set()
        for d in self.get_many([f"svc#{service}", f"res#{path}", f"sub#{path}", *(f"path#{p}" for p in prefixes)]):
            self._file(snap, d)
            below |= set(d.get("below") or ()) - {service}  # only the sub# item has `below`
        for led in self.get_many([f"svc#{s}" for s in sorted(below)]):
            if led.get("path"):
                snap.paths[led["path"]] = led["service"]
        return snap

    def get_many(self, pks: list[str]) -> list[dict[str, Any]]:
        """Consistent reads of any number of items, 100 per BatchGetItem, unprocessed keys retried."""
        return batch_get(self.ddb, self.table, [{"pk": {"S": pk}} for pk in dict.fromkeys(pks)])

    def cache_task_definitions(self, summaries: dict[str, dict[str, Any]], ttl_days: int = 30) -> None:
        """Task definition revisions are immutable, so what a pass read of one is kept for the next passes
        (`td#<arn>`): a converged sweep makes no DescribeTaskDefinition call. TTL keeps the table small."""
        expires = int(self.clock()) + ttl_days * 86400
        self._put_many([{"pk": f"td#{arn}", "networkMode": summary["networkMode"],
                         "containers": summary["containers"], "expiresAt": expires}
                        for arn, summary in summaries.items()])

    def _put_many(self, items: list[dict[str, Any]]) -> None:
        """Unconditional puts of distinct keys, 25 per BatchWriteItem, unprocessed items retried."""
        if len(items) == 1:
            self._put(**items[0])
            return
        for i in range(0, len(items), 25):
            todo = {self.table: [{"PutRequest": {"Item": to_item(d)}} for d in items[i:i + 25]]}
            for attempt in range(8):
                todo = self.ddb.batch_write_item(RequestItems=todo).get("UnprocessedItems") or {}
                if not todo:
                    break
                time.sleep(min(0.05 * 2 ** attempt, 1.0))  # throttled items come back unprocessed
            else:
                raise RuntimeError(f"DynamoDB left {len(todo[self.table])} items of {self.table} unwritten")

    # -- reservations ------------------------------------------------------------------------------
    @staticmethod
    def _slot(lb: str, number: int, listener: str | None) -> tuple[str, str, str]:
        """(item key, ledger attribute, what it is for the user) of a reservation's number: a listener port on
        the load balancer, or (`listener` given, ALB mode) a rule priority on that listener."""
        if listener:
            return f"rule#{listener}#{number}", "priority", f"rule priority {number}"
        return f"port#{lb}#{number}", "port", f"port {number} on {lb.rsplit('/', 2)[-2] if '/' in lb else lb}"

    def _reserve_items(self, service: str, lb: str, port: int, path: str, ancestors: list[str],
                       intent: dict[str, Any] | None = None, listener: str | None = None) -> list[dict[str, Any]]:
        """The transaction items of one reservation. `intent`: ledger attributes recorded with it (the target
        group's name and the ECS service the pass is about to use), so no write-ahead save is needed later.
        `listener` (ALB mode): `port` is the service's rule priority on that listener, not a port."""
        intent = {k: v for k, v in (intent or {}).items() if v}
        owner_cond = owned_by(service)
        slot, attribute, _ = self._slot(lb, port, listener)
        items = [
            {"Put": {"TableName": self.table, "Item": to_item({"pk": slot, "owner": service}),
                     **owner_cond}},
            {"Put": {"TableName": self.table, "Item": to_item({"pk": f"path#{path}", "owner": service}),
                     **owner_cond}},
            {"Update": {"TableName": self.table, "Key": to_item({"pk": f"svc#{service}"}),
                        "UpdateExpression": "SET service = :s, loadBalancer = :lb, #p = :p, #path = :path"
                                            + "".join(f", #i{i} = :i{i}" for i in range(len(intent))),
                        "ExpressionAttributeNames": {"#p": attribute, "#path": "path",
                                                     **{f"#i{i}": k for i, k in enumerate(intent)}},
                        "ExpressionAttributeValues": to_item({
                            ":s": service, ":lb": lb, ":p": port, ":path": path,
                            **{f":i{i}": v for i, v in enumerate(intent.values())}})}},
        ]
        items += [{"ConditionCheck": {"TableName": self.table, "Key": to_item({"pk": f"path#{a}"}), **owner_cond}}
                  for a in ancestors]
        items.append({"ConditionCheck": {
            "TableName": self.table, "Key": to_item({"pk": f"sub#{path}"}),
            "ConditionExpression": "attribute_not_exists(#b) OR (size(#b) = :one AND contains(#b, :s))",
            "ExpressionAttributeNames": {"#b": "below"},
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":s": {"S": service}}}})
        items += [{"Update": {"TableName": self.table, "Key": to_item({"pk": f"sub#{a}"}),
                              "UpdateExpression": "ADD #b :me", "ExpressionAttributeNames": {"#b": "below"},
                              "ExpressionAttributeValues": {":me": {"SS": [service]}}}} for a in ancestors]
        return items

    def reserve(self, service: str, lb: str, port: int, path: str, ancestors: list[str],
                intent: dict[str, Any] | None = None, listener: str | None = None) -> None:
        """Claim (lb, port) and path for `service` atomically; idempotent for the same owner.

        Ancestor paths must not be owned by another service (a route under another's route would be
        shadowed by its {proxy+}); that is checked inside the same transaction. The other direction too:
        each ancestor's `sub#` item collects the services routed below it, and a path whose `sub#` item
        names another service is refused, so two reconciles can never take /a and /a/b at the same time.
        """
        items = self._reserve_items(service, lb, port, path, ancestors, intent, listener)
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except ClientError as e:
            if error_code(e) != "TransactionCanceledException":
                raise
            # What each item guards: CancellationReasons follow the order of TransactItems (the port, the path,
            # the ledger, the ancestors, then `sub#`; docs.aws.amazon.com/amazondynamodb/latest/APIReference/
            # API_CancellationReason.html). `sub#` is named by a service routed below the path.
            slot, attribute, what = self._slot(lb, port, listener)
            held = [(attribute, what, slot),
                    *(("path", f"path {p}", f"path#{p}") for p in (path, *ancestors))]
            sub = ("path", f"path {path}/…", None)
            below = sorted(self._below(path) - {service})
            guards = [*held[:2], None, *held[2:], sub]  # the sub# updates after these have no condition
            for guard, reason in zip(guards, e.response.get("CancellationReasons") or [], strict=False):
                if guard and reason.get("Code") == "ConditionalCheckFailed" and (guard[2] or below):
                    raise Conflict(guard[0], guard[1], self._owner(guard[2]) if guard[2] else below[0]) from None
            # moto and older APIs may not say which item failed: find out by reading.
            for kind, key, pk in held:
                owner = self._owner(pk)
                if owner and owner != service:
                    raise Conflict(kind, key, owner) from None
            if below:
                raise Conflict(sub[0], sub[1], below[0]) from None
            raise

    def reserve_many(self, reservations: list[tuple]) -> bool:
        """Several services' reservations (`reserve`'s arguments each) in one transaction: all are taken or
        none. Their keys must be disjoint (top-level paths: nested ones share their ancestors' items). False
        when it was cancelled: reserve them one by one then, which says who holds what."""
        try:
            self.ddb.transact_write_items(TransactItems=[it for r in reservations for it in self._reserve_items(*r)])
            return True
        except ClientError as e:
            if e.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            return False

    def _below(self, path: str) -> set[str]:
        return set((self._get(f"sub#{path}") or {}).get("below") or ())

    def _release_below(self, service: str, path: str) -> None:
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            self.ddb.update_item(TableName=self.table, Key=to_item({"pk": "sub#/" + "/".join(parts[:i])}),
                                 UpdateExpression="DELETE #b :me", ExpressionAttributeNames={"#b": "below"},
                                 ExpressionAttributeValues={":me": {"SS": [service]}})

    def reserve_port(self, owner: str, lb: str, port: int) -> None:
        """Claim one listener port for a non-service owner (e.g. a CloudFormation `Custom::ListenerPort`).

        Same key and condition as `reserve`, so a port is held by exactly one service or one such owner.
        """
        if not self._if(self.ddb.put_item, Item=to_item({"pk": f"port#{lb}#{port}", "owner": owner}),
                        **owned_by(owner)):
            raise Conflict("port", f"port {port}", self._owner(f"port#{lb}#{port}"))

    def _owner(self, pk: str) -> str | None:
        return (self._get(pk) or {}).get("owner")

    def release(self, service: str, lb: str | None, port: int | None, path: str | None) -> None:
        """Drop the service's reservations and ledger. Only items still owned by `service` are deleted."""
        if lb and port:
            self.release_port(service, lb, port)
        if path:
            self.release_path(service, path)
        self._delete(f"svc#{service}")

    def release_port(self, service: str, lb: str, port: int) -> None:
        self._delete_owned(f"port#{lb}#{port}", service)

    def release_priority(self, service: str, listener: str, priority: int) -> None:
        self._delete_owned(f"rule#{listener}#{priority}", service)

    def release_path(self, service: str, path: str) -> None:
        self._release_below(service, path)
        self._delete_owned(f"path#{path}", service)

    def _delete_owned(self, pk: str, service: str) -> None:
        self._if(self.ddb.delete_item, Key=to_item({"pk": pk}), **owned_by(service))

    # -- ledger claims (claims.py: the rule and its batches) ----------------------------------------
    CLAIM_SECONDS = ledger_claims.CLAIM_SECONDS

    def claim(self, service: str, holder: str, version: int | None) -> None:
        ledger_claims.claim(self, service, holder, version)

    def claim_many(self, wanted: dict[str, int | None], holder: str) -> dict[str, Conflict]:
        return ledger_claims.claim_many(self, wanted, holder)

    def save_ledger(self, ledger: Ledger) -> None:
        ledger_claims.save_ledger(self, ledger)

    def unclaim_many(self, ledgers: list[Ledger], holder: str) -> None:
        ledger_claims.unclaim_many(self, ledgers, holder)

    def put_intermediate(self, path: str, resource_id: str) -> None:
        self._put(f"res#{path}", resourceId=resource_id)

    def delete_intermediate(self, path: str) -> None:
        self._delete(f"res#{path}")

    # -- deployments -------------------------------------------------------------------------------
    def link_version(self) -> str | None:
        got = self._get("link#version")
        return got["version"] if got else None

    def set_link_version(self, version: str) -> None:
        self._put("link#version", version=version)

    def mark_deploy_pending(self, stage: str) -> None:
        self.ddb.update_item(TableName=self.table, Key=to_item({"pk": f"deploy#{stage}"}),
                             UpdateExpression="SET pending = :t", ExpressionAttributeValues=to_item({":t": True}))

    def record_deploy(self, stage: str, deployment_id: str, at: float, links: list[str] = (),
                      earlier: dict[str, Any] | None = None) -> None:
        """`links`: the VPC links the new deployment's integrations use; `earlier`: this item as the pass read
        it, whose `links` of earlier deployments are kept (one write, no read)."""
        known = {**self.links_of(earlier), deployment_id: sorted(links)}
        self._put(f"deploy#{stage}", pending=False, deploymentId=deployment_id, at=str(at),
                  links=json.dumps(dict(list(known.items())[-KEEP_LINKS:])))

    def deployment_links(self, stage: str) -> dict[str, list[str]]:
        """{deployment id: the VPC links it routes through} for the stage's recent deployments by portico."""
        return self.links_of(self._get(f"deploy#{stage}"))

    @staticmethod
    def links_of(item: dict[str, Any] | None) -> dict[str, list[str]]:
        return json.loads((item or {}).get("links") or "{}")

    # -- CloudFormation ------------------------------------------------------------------------------
    def has_ledger(self, service: str) -> bool:
        return self._get(f"svc#{service}") is not None

    def route_holder(self, service: str) -> dict[str, Any]:
        """Which resource (`stack`, `logicalId`) of a stack holds a ServiceRoute entry; {} when none."""
        return self._get(f"cfn#{service}") or {}

    def hold_route(self, service: str, stack: str, logical: str, **extra: Any) -> None:
        self._put(f"cfn#{service}", stack=stack, logicalId=logical, **extra)

    def drop_route_holder(self, service: str) -> None:
        self._delete(f"cfn#{service}")

    def recall_answer(self, request_id: str) -> dict[str, Any] | None:
        item = self._get(f"cfnreq#{request_id}") if request_id else None
        return json.loads(item["answer"]) if item else None

    def remember_answer(self, body: dict[str, Any], keep_seconds: int) -> None:
        self._put(f"cfnreq#{body['RequestId']}", answer=json.dumps(body, default=str),
                  expiresAt=int(self.clock()) + keep_seconds)

    # -- stage history (`stagehist#`: what promote and rollback read) ----------------------------------
    def stage_history(self, stage: str) -> list[dict[str, Any]]:
        item = self._get(f"stagehist#{stage}")
        return json.loads(item["events"]) if item else []

    def save_stage_history(self, stage: str, events: list[dict[str, Any]]) -> None:
        self._put(f"stagehist#{stage}", events=json.dumps(events))

    # -- leases ------------------------------------------------------------------------------------
    def acquire(self, name: str, holder: str, ttl: float = 60.0) -> bool:
        now = self.clock()
        return self._if(self.ddb.put_item,
                        Item=to_item({"pk": f"lock#{name}", "holder": holder, "expiresAt": int(now + ttl)}),
                        ConditionExpression="attribute_not_exists(pk) OR expiresAt < :now OR holder = :h",
                        ExpressionAttributeValues=to_item({":now": int(now), ":h": holder}))

    def acquire_many(self, names: list[str], holder: str, ttl: float = 60.0) -> bool:
        """Leases on several names (up to 100) in one transaction: all or none."""
        now = self.clock()
        try:
            self.ddb.transact_write_items(TransactItems=[{"Put": {
                "TableName": self.table,
                "Item": to_item({"pk": f"lock#{n}", "holder": holder, "expiresAt": int(now + ttl)}),
                "ConditionExpression": "attribute_not_exists(pk) OR expiresAt < :now OR holder = :h",
                "ExpressionAttributeValues": to_item({":now": int(now), ":h": holder})}} for n in names])
            return True
        except ClientError as e:
            if e.response["Error"]["Code"] == "TransactionCanceledException":
                return False
            raise

    def release_many(self, names: list[str], holder: str) -> None:
        try:
            self.ddb.transact_write_items(TransactItems=[{"Delete": {
                "TableName": self.table, "Key": to_item({"pk": f"lock#{n}"}), "ConditionExpression": "holder = :h",
                "ExpressionAttributeValues": to_item({":h": holder})}} for n in names])
        except ClientError as e:
            if e.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            for n in names:  # one of them expired and was taken: release the others one by one
                self.release_lock(n, holder)

    def release_lock(self, name: str, holder: str) -> None:
        self._if(self.ddb.delete_item, Key=to_item({"pk": f"lock#{name}"}), ConditionExpression="holder = :h",
                 ExpressionAttributeValues=to_item({":h": holder}))
