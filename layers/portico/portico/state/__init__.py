"""portico's own table: the ledger of what it created, and the reservations that make ports and paths unique.

Items (partition key `pk`):
  svc#<service>        ledger: load balancer, port, path, target group, listener, API resource ids
  port#<lb arn>#<port> reservation: owner service (a listener port on one NLB), or `cfn:<stack id>#<logical
                       id>` for a CloudFormation Custom::ListenerPort (not a service: never released by reconciles)
  rule#<listener arn>#<priority>  reservation: owner service (ALB mode: a listener rule's priority on the ALB
                       listener; taken in the same transaction, with the same condition, as a port)
  path#<path>          reservation: owner service (an API path)
  sub#<path>           the services routed below a path (`below`), so no two reconciles take /a and /a/b
  res#<path>           an intermediate API resource portico created (e.g. /team for /team/orders); `retiring`
                       while a pass deletes it (no reservation below it meanwhile)
  deploy#<stage>       last deployment time, a `pending` flag set before API changes, and the VPC links each
                       of the stage's last KEEP_LINKS deployments routes through (`links`: prune, rollback)
  lock#<name>          a short lease (read-modify-write of an ECS service's loadBalancers)
  td#<task def arn>    what a pass read of an (immutable) task definition revision (`expiresAt`)
  cfn#<service>        which CloudFormation resource (stack, logical id) holds a Custom::ServiceRoute entry
  cfnreq#<request id>  the answer given to a CloudFormation request (re-sent on redelivery; `expiresAt`)
  stagehist#<stage>    the deployments a stage pointed to (promote, rollback), as JSON `events`
  link#version         the VPC links integrations use ("v1" or "v2"), written by `portico migrate-link`
                       before it moves them, so a pass cut short is finished by the next one
  sweep#cursor         the number of scheduled sweeps begun (`sweeps`): the shard each one takes
  pool#<name>          a load balancer portico added to the pool (kinds/load_balancer.py): its index, type, the
                       nonce its token tag is made of, its ARN once created (ALB: and its listener's)

Every key is written by this package: reservations (ports, rule priorities, paths) in `reservations`, the
ledger's claims in `claims`, leases in `leases`, the rest here; the values (Ledger, StateSnapshot) and the item
form are in `records`, the DynamoDB calls in `table`.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from . import claims as ledger_claims
from . import leases, reservations
from .records import (
    TOKEN_TAG,
    Conflict,
    ConflictKind,
    Ledger,
    StateSnapshot,
    batch_get,
    from_item,
    owned_by,
    to_item,
    token,
)
from .reservations import Handover, Reservation
from .table import Table

__all__ = ["TOKEN_TAG", "Conflict", "ConflictKind", "Handover", "Ledger", "Reservation", "StateSnapshot", "StateTable",
           "batch_get", "from_item", "owned_by", "to_item", "token"]

KEEP_LINKS = 300  # deployments whose VPC links are remembered: more than the stages' histories hold (100 each)


class StateTable(Table):
    """The table's items by key prefix (this module's docstring): its `Table` calls, with a method for each
    thing portico records, reserves, claims or leases."""

    CLAIM_SECONDS, RENEW_SECONDS = ledger_claims.CLAIM_SECONDS, ledger_claims.RENEW_SECONDS

    def header_secret(self) -> str:
        """ALB mode's per-stack secret (`slots.header_value`), made once by the first pass that needs it: a
        conditional put, so two passes agree on one value. It never leaves the state table and the functions."""
        if held := self.get("secret#header"):
            return held["value"]
        value = secrets.token_hex(16)
        if self.write_if(self.ddb.put_item, Item=to_item({"pk": "secret#header", "value": value}),
                         ConditionExpression="attribute_not_exists(pk)"):
            return value
        return self.get("secret#header")["value"]

    # -- reads -------------------------------------------------------------------------------------
    def snapshot(self) -> StateSnapshot:
        snap = StateSnapshot()
        for page in self.ddb.get_paginator("scan").paginate(TableName=self.name, ConsistentRead=True):
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
        elif kind == "secret" and rest == "header":
            snap.header_secret = d["value"]
        elif kind == "pool":
            snap.pool[rest] = d

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

    def cache_task_definitions(self, summaries: dict[str, dict[str, Any]], ttl_days: int = 30) -> None:
        """Task definition revisions are immutable, so what a pass read of one is kept for the next passes
        (`td#<arn>`): a converged sweep makes no DescribeTaskDefinition call. TTL keeps the table small."""
        expires = int(self.clock()) + ttl_days * 86400
        self.put_many([{"pk": f"td#{arn}", "networkMode": summary["networkMode"],
                         "containers": summary["containers"], "expiresAt": expires}
                        for arn, summary in summaries.items()])

    # -- reservations (reservations.py) ---------------------------------------------------------------
    def reserve(self, r: Reservation) -> None:
        reservations.reserve(self, r)

    def reserve_many(self, rs: list[Reservation]) -> bool:
        return reservations.reserve_many(self, rs)

    def reserve_port(self, owner: str, lb: str, port: int) -> None:
        reservations.reserve_port(self, owner, lb, port)

    def release(self, service: str, lb: str | None, port: int | None, path: str | None) -> None:
        reservations.release(self, service, lb, port, path)

    def release_port(self, service: str, lb: str, port: int) -> None:
        reservations.release_port(self, service, lb, port)

    def release_priority(self, service: str, listener: str, priority: int) -> None:
        reservations.release_priority(self, service, listener, priority)

    def release_path(self, service: str, path: str) -> None:
        reservations.release_path(self, service, path)

    def retire(self, path: str, leaving: list[str]) -> bool:
        return reservations.retire(self, path, leaving)

    def unretire(self, path: str) -> None:
        reservations.unretire(self, path)

    # -- claims on the ledgers (claims.py) --------------------------------------------------------------
    def claim(self, service: str, holder: str, version: int | None) -> None:
        ledger_claims.claim(self, service, holder, version)

    def claim_many(self, wanted: dict[str, int | None], holder: str) -> dict[str, Conflict]:
        return ledger_claims.claim_many(self, wanted, holder)

    def renew(self, services: list[str], holder: str) -> tuple[int, list[str]]:
        return ledger_claims.renew(self, services, holder)

    def save_ledger(self, ledger: Ledger) -> None:
        ledger_claims.save_ledger(self, ledger)

    def unclaim_many(self, ledgers: list[Ledger], holder: str) -> None:
        ledger_claims.unclaim_many(self, ledgers, holder)

    def put_intermediate(self, path: str, resource_id: str) -> None:
        self.put(f"res#{path}", resourceId=resource_id)

    def delete_intermediate(self, path: str) -> None:
        self.delete(f"res#{path}")

    # -- deployments -------------------------------------------------------------------------------
    def link_version(self) -> str | None:
        got = self.get("link#version")
        return got["version"] if got else None

    def set_link_version(self, version: str) -> None:
        self.put("link#version", version=version)

    def mark_deploy_pending(self, stage: str) -> None:
        self.ddb.update_item(TableName=self.name, Key=to_item({"pk": f"deploy#{stage}"}),
                             UpdateExpression="SET pending = :t", ExpressionAttributeValues=to_item({":t": True}))

    def record_deploy(self, stage: str, deployment_id: str, at: float, links: list[str] = (),
                      earlier: dict[str, Any] | None = None) -> None:
        """`links`: the VPC links the new deployment's integrations use; `earlier`: this item as the pass read
        it, whose `links` of earlier deployments are kept (one write, no read)."""
        known = {**self.links_of(earlier), deployment_id: sorted(links)}
        self.put(f"deploy#{stage}", pending=False, deploymentId=deployment_id, at=str(at),
                  links=json.dumps(dict(list(known.items())[-KEEP_LINKS:])))

    def deployment_links(self, stage: str) -> dict[str, list[str]]:
        """{deployment id: the VPC links it routes through} for the stage's recent deployments by portico."""
        return self.links_of(self.get(f"deploy#{stage}"))

    @staticmethod
    def links_of(item: dict[str, Any] | None) -> dict[str, list[str]]:
        return json.loads((item or {}).get("links") or "{}")

    # -- CloudFormation ------------------------------------------------------------------------------
    def has_ledger(self, service: str) -> bool:
        return self.get(f"svc#{service}") is not None

    def route_holder(self, service: str) -> dict[str, Any]:
        """Which resource (`stack`, `logicalId`) of a stack holds a ServiceRoute entry; {} when none."""
        return self.get(f"cfn#{service}") or {}

    def hold_route(self, service: str, stack: str, logical: str, **extra: Any) -> None:
        self.put(f"cfn#{service}", stack=stack, logicalId=logical, **extra)

    def drop_route_holder(self, service: str) -> None:
        self.delete(f"cfn#{service}")

    def recall_answer(self, request_id: str) -> dict[str, Any] | None:
        item = self.get(f"cfnreq#{request_id}") if request_id else None
        return json.loads(item["answer"]) if item else None

    def remember_answer(self, body: dict[str, Any], keep_seconds: int) -> None:
        self.put(f"cfnreq#{body['RequestId']}", answer=json.dumps(body, default=str),
                  expiresAt=int(self.clock()) + keep_seconds)

    # -- stage history (`stagehist#`: what promote and rollback read) ----------------------------------
    def stage_history(self, stage: str) -> list[dict[str, Any]]:
        item = self.get(f"stagehist#{stage}")
        return json.loads(item["events"]) if item else []

    def save_stage_history(self, stage: str, events: list[dict[str, Any]]) -> None:
        self.put(f"stagehist#{stage}", events=json.dumps(events))

    # -- the pool's members portico adds (kinds/load_balancer.py) -----------------------------------
    def add_pool_member(self, member: dict[str, Any]) -> dict[str, Any]:
        """Record a load balancer about to be added to the pool, unless a pass recorded it first (two passes may
        find the pool full at once): the record that stands, whose nonce the load balancer's token is made of."""
        if self.write_if(self.ddb.put_item, Item=to_item({"pk": f"pool#{member['name']}", **member}),
                         ConditionExpression="attribute_not_exists(pk)"):
            return member
        return self.get(f"pool#{member['name']}") or member

    def record_pool_member(self, member: dict[str, Any]) -> None:
        self.put(f"pool#{member['name']}", **{k: v for k, v in member.items() if k != "pk"})

    def drop_pool_member(self, name: str) -> None:
        self.delete(f"pool#{name}")

    # -- sweeps ------------------------------------------------------------------------------------
    def next_sweep(self) -> int:
        """This sweep's number: `sweep#cursor` counted up by one atomic write (UpdateItem ADD, which starts a
        missing counter at 0: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/example_dynamodb_Scenario_AtomicCounterOperations_section.html),
        so consecutive sweeps take consecutive shards whatever the schedule (rate or cron) and however late
        each one runs, and two sweeps at once take two shards."""
        got = self.ddb.update_item(TableName=self.name, Key=to_item({"pk": "sweep#cursor"}),
                                   UpdateExpression="ADD sweeps :one", ExpressionAttributeValues=to_item({":one": 1}),
                                   ReturnValues="UPDATED_NEW")
        return int(from_item(got["Attributes"])["sweeps"])

    # -- leases (leases.py) -----------------------------------------------------------------------
    def acquire(self, name: str, holder: str, ttl: float = 60.0) -> bool:
        return leases.acquire(self, name, holder, ttl)

    def acquire_many(self, names: list[str], holder: str, ttl: float = 60.0) -> bool:
        return leases.acquire_many(self, names, holder, ttl)

    def release_many(self, names: list[str], holder: str) -> None:
        leases.release_many(self, names, holder)

    def release_lock(self, name: str, holder: str) -> None:
        leases.release_lock(self, name, holder)
