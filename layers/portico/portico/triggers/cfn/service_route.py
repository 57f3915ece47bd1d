"""Custom::ServiceRoute: a registry entry owned by the stack (`owner` = StackId). Physical id = the service id.

Create/Update validate with the registry's own rules, write the entry, run the same `Reconciler.run([service])`
the stream runs, and answer from the status portico wrote back. A replacement (a new `Service`) is a small saga:
a kept or nested path moves the old entry out first, and a failed or rolled-back replacement puts it back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from ...errors import CONDITION_FAILED, error_code
from ...reconcile import Reconciler
from ...registry import FAILED as ENTRY_FAILED
from ...registry import READY
from ...spec import SERVICE_RE, ServiceSpec, SpecError, overlap, spec_view
from .answer import ANSWER_MARGIN_SECONDS, Failure, Reply, remaining
from .properties import route_item, route_service, spec_failure

log = logging.getLogger("portico.provider")

MAX_WAIT_BETWEEN_PASSES = 20.0


def registry_rules(check: Callable[[dict[str, Any]], Any], item: dict[str, Any]) -> Any:
    """`check(item)` (the registry's parse or preflight), its SpecError a FAILED answer naming the property."""
    try:
        return check(item)
    except SpecError as exc:
        raise spec_failure(exc) from None


def refuse_foreign(service: str, before: dict[str, Any] | None, owner: str) -> None:
    """A ServiceRoute writes only entries its own stack made."""
    if before is not None and before.get("owner") != owner:
        who = f"stack {before['owner']}" if before.get("owner") else "someone outside CloudFormation (no owner)"
        raise Failure(f"service {service!r} is already in the portico registry, owned by {who}; a "
                      "ServiceRoute never takes over an entry its stack did not create: choose another "
                      "Service, or remove the entry where it was made")


class ServiceRoutes:
    def __init__(self, reconciler: Reconciler, answer: Reply, *, sleep=time.sleep):
        self.r, self.answer, self.sleep = reconciler, answer, sleep
        self.registry, self.state = reconciler.registry, reconciler.state

    def mine(self, item: dict[str, Any] | None, event: dict[str, Any]) -> bool:
        """The entry belongs to this stack, and to this resource of it (or to none in particular): two logical
        ids may name one service, and the `cfn#` holder says which of them holds it."""
        if not item or item.get("owner") != event["StackId"]:
            return False
        held = self.state.route_holder(item["service"])
        return not held or held.get("stack") != event["StackId"] or held.get("logicalId") == event["LogicalResourceId"]

    def converge(self, service: str, context: Any, *, digest: str | None) -> dict[str, Any] | None:
        """Run the reconcile for `service` until its status is final (digest given) or it is torn down
        (digest None). Transient errors leave it PENDING: wait and run again while time allows."""
        passes = 0
        while True:
            started = time.monotonic()
            outcome = self.r.run([service])
            took = time.monotonic() - started
            passes += 1
            if digest is None:
                problem = outcome.retry.get(service) or outcome.plan.failed.get(service)
                if not problem and not self.state.has_ledger(service):
                    return None
                if service not in outcome.retry and problem:
                    raise Failure(f"the entry is removed but tearing down {service} failed: {problem}")
                message = problem or "teardown incomplete"
            else:
                item = self.registry.get(service)
                if item is None:
                    raise Failure(f"the registry entry {service} was removed while portico was routing it")
                status = item.get("status")
                if item.get("specHash") == digest and (status == READY or (status == ENTRY_FAILED and passes > 1)):
                    return item
                # A first FAILED is confirmed by one more pass: a reconcile running at the same time (the
                # stream sees the same write) can make this pass lose a create race it would win on re-read.
                message = item.get("statusMessage") or "waiting for portico"
            left = remaining(context) - ANSWER_MARGIN_SECONDS - took
            if digest is not None and status == ENTRY_FAILED:
                if left <= 0:
                    return item  # no time to confirm: answer with the failure portico reported
                continue
            if left <= 0:
                raise Failure(f"{service} is still PENDING after {passes} reconcile passes: {message}; "
                              "portico keeps retrying (stream, sweeper); update the stack again later")
            self.sleep(min(2.0 ** passes, MAX_WAIT_BETWEEN_PASSES, left))

    # -- requests -------------------------------------------------------------------------------------
    def upsert(self, event: dict[str, Any], context: Any) -> tuple[str, dict[str, Any]]:
        previous = event.get("PhysicalResourceId") if event["RequestType"] == "Update" else None
        item = route_item(event.get("ResourceProperties") or {})
        spec = registry_rules(self.r.parse, item)
        service = spec.service
        replacing = previous if previous and previous != service else None
        before = self.registry.get(service)
        refuse_foreign(service, before, event["StackId"])
        moved = None
        try:
            moved = self.move_out(replacing, spec.path, event, context) if replacing else None
            result = self.route(item, spec, before, moved, event, context)
        except Exception as exc:
            if replacing:  # the update fails: CloudFormation keeps the old resource, so leave it as it was
                self.undo(service, before, event, context)
                if moved:
                    self.restore(moved, event, context)
                reason = exc.reason if isinstance(exc, Failure) else f"{type(exc).__name__}: {exc}"
                raise Failure(reason, replacing) from exc
            if isinstance(exc, Failure) and exc.physical_id is None and self.answer.PhysicalResourceId == service:
                exc.physical_id = service
            raise
        port = result.get("listenerPort")  # none in ALB mode (a listener rule, no port of its own)
        data = {"ListenerPort": int(port) if port is not None else None, "InvokeUrl": result.get("invokeUrl"),
                "TargetGroupArn": result.get("targetGroupArn"), "Path": spec.path}
        return service, {k: v for k, v in data.items() if v is not None}

    def route(self, item: dict[str, Any], spec: ServiceSpec, before: dict[str, Any] | None,
              moved: dict[str, Any] | None, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Write the entry (the answer's physical id from then on) and reconcile it: its READY entry."""
        service, owner = spec.service, event["StackId"]
        self.clear_stale(service, spec.path, event, context)
        registry_rules(self.r.preflight, item)
        if not self.answer.claim(service):  # from here on the entry may exist: a rollback must find it
            raise Failure("the request was already answered (Lambda timeout); nothing was written")
        if before is None or spec_view(before) != spec_view(item):
            try:
                self.registry.put_spec(item, owner=owner, expect_owner=owner)
            except ClientError as exc:
                if error_code(exc) != CONDITION_FAILED:
                    raise
                raise Failure(f"service {service!r} was just written to the registry by someone else; "
                              "a ServiceRoute never takes over an entry its stack did not create") from None
        extra = {"movedFrom": moved} if moved else {}
        self.state.hold_route(service, owner, event["LogicalResourceId"], **extra)
        result = self.converge(service, context, digest=spec.digest())
        if result.get("status") != READY:
            raise Failure(result.get("statusMessage") or "portico could not route the service", service)
        return result

    def move_out(self, old: str, path: str, event: dict[str, Any], context: Any) -> dict[str, Any] | None:
        """A replacement that keeps (or nests) the path: paths are unique, so the old entry goes first.
        Returns the old entry's spec, kept so a rollback of this update can put it back."""
        if not SERVICE_RE.fullmatch(old or ""):
            return None
        current = self.registry.get(old)
        if not current or not self.mine(current, event) or not overlap(str(current.get("path")), path):
            return None
        kept = {**spec_view(current), "owner": current["owner"]}
        self.state.hold_route(old, event["StackId"], event["LogicalResourceId"], movedTo=route_service(event))
        self.registry.delete(old, expect_owner=event["StackId"])
        try:
            self.converge(old, context, digest=None)
        except Failure:
            self.restore(kept, event, context)
            raise
        return kept

    def clear_stale(self, service: str, path: str, event: dict[str, Any], context: Any) -> None:
        """Entries this same resource (stack + logical id) holds under another service id on an overlapping
        path are left over (CloudFormation tracks one physical id per resource): remove them for good."""
        owner, logical = event["StackId"], event["LogicalResourceId"]
        for other, entry in sorted(self.registry.scan().items()):
            if other == service or entry.get("owner") != owner or not overlap(str(entry.get("path")), path):
                continue
            held = self.state.route_holder(other)
            if held.get("stack") != owner or held.get("logicalId") != logical:
                continue
            log.info("removing a left-over entry of this resource", extra={"service": other})
            self.registry.delete(other, expect_owner=owner)
            self.state.drop_route_holder(other)
            self.converge(other, context, digest=None)

    def undo(self, service: str, before: dict[str, Any] | None, event: dict[str, Any], context: Any) -> None:
        if before is not None or self.answer.PhysicalResourceId != service:
            return  # nothing written by this request, or the entry was there before it
        try:
            self.registry.delete(service, expect_owner=event["StackId"])
            self.state.drop_route_holder(service)
            self.converge(service, context, digest=None)
        except Exception:  # noqa: BLE001 - best effort: the answer is FAILED either way
            log.exception("could not remove the entry of a failed replacement", extra={"service": service})

    def restore(self, kept: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        service = kept["service"]
        try:
            self.registry.put_spec(kept, owner=kept["owner"], expect_owner=kept["owner"])
            self.state.hold_route(service, event["StackId"], event["LogicalResourceId"])
            self.converge(service, context, digest=self.r.parse(kept).digest())
        except Exception:  # noqa: BLE001 - best effort: the sweeper keeps reconciling the restored entry
            log.exception("could not restore the entry of a rolled-back replacement", extra={"service": service})

    def delete(self, event: dict[str, Any], context: Any) -> tuple[str, dict[str, Any]]:
        service = event.get("PhysicalResourceId") or ""
        if not SERVICE_RE.fullmatch(service):
            return service, {}  # never created (a failed Create): nothing to remove
        owner, logical = event["StackId"], event["LogicalResourceId"]
        item = self.registry.get(service)
        held = self.state.route_holder(service)
        ours = held.get("stack") == owner and held.get("logicalId") == logical
        if item is None:
            if ours and held.get("movedTo"):  # the old half of a finished move: the new entry stays
                target = self.state.route_holder(held["movedTo"])
                if target.get("movedFrom"):
                    self.state.hold_route(held["movedTo"], target["stack"], target["logicalId"])
            elif ours and self.state.has_ledger(service):
                self.converge(service, context, digest=None)  # a Delete retried after a failed teardown
            if ours:
                self.state.drop_route_holder(service)
            return service, {}
        if not self.mine(item, event):
            self.answer.Reason = f"entry {service} is not this resource's (owner {item.get('owner') or 'none'}); left"
            return service, {}
        try:
            self.registry.delete(service, expect_owner=owner)
        except ClientError as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
            return service, {}  # taken over meanwhile: not ours to remove
        self.converge(service, context, digest=None)
        moved = held.get("movedFrom") if ours else None
        if held.get("stack") == owner:
            self.state.drop_route_holder(service)
        if moved:  # a replacement rolled back before CloudFormation deleted the old entry: put it back
            old_held = self.state.route_holder(moved["service"])
            if old_held.get("movedTo") == service and self.registry.get(moved["service"]) is None:
                self.restore(moved, event, context)
        return service, {}
