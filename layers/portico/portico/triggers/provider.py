"""CloudFormation front-end: `Custom::ServiceRoute`, `Custom::ListenerPort` and (for portico's own stack)
`Custom::ApiGatewayAccount`, one crhelper provider.

An ApiGatewayAccount sets API Gateway's account-wide CloudWatch Logs role where none is set (access logs need
one), and never replaces the account's own.

A ServiceRoute is a registry entry owned by the stack (`owner` = StackId): Create/Update validate with the
registry's own rules, write the entry, run the same `Reconciler.run([service])` the stream runs, and answer
from the status portico wrote back. A ListenerPort is a `port#<lb>#<port>` reservation in portico's state
table, the same key services reserve, so a port is never held by both.

Every request gets exactly one answer (`Provider._send` answers once; crhelper's timer answers FAILED just
before the Lambda timeout; an import failure of portico answers FAILED through `init_failure`).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from decimal import Decimal, InvalidOperation
from http.client import HTTPConnection, HTTPSConnection
from typing import Any
from urllib.parse import urlsplit

from crhelper import CfnResource

log = logging.getLogger("portico.provider")

SUCCESS, FAILED = "SUCCESS", "FAILED"
ROUTE, PORT, ACCOUNT = "Custom::ServiceRoute", "Custom::ListenerPort", "Custom::ApiGatewayAccount"
MAX_RESPONSE_BYTES = 4096  # CloudFormation's limit for a custom resource response
MAX_REASON = 1000
ANSWER_MARGIN_SECONDS = 30.0  # stop waiting this long before the Lambda timeout: one answer always fits
MAX_WAIT_BETWEEN_PASSES = 20.0
CFN_PROPERTIES = ("ServiceToken", "ServiceTimeout")  # CloudFormation's own, never part of the spec


def put_response(url: str, body: dict[str, Any], attempts: int = 5, sleep=time.sleep) -> bool:
    """PUT the response to the pre-signed URL; bounded retries. The URL is never logged (it is a credential).

    https is what CloudFormation sends; plain http is accepted for local endpoints (tests, emulators).
    """
    data = json.dumps(body, default=str).encode()
    parts = urlsplit(url or "")
    if parts.scheme not in ("https", "http") or not parts.netloc:
        log.error("cannot answer: the request has no usable ResponseURL")
        return False
    conn_cls = HTTPSConnection if parts.scheme == "https" else HTTPConnection
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    for attempt in range(attempts):
        try:
            conn = conn_cls(parts.netloc, timeout=10)
            conn.request("PUT", target or "/", body=data,
                         headers={"content-type": "", "content-length": str(len(data))})
            resp = conn.getresponse()
            resp.read()
            conn.close()
            if resp.status < 300:
                log.info("answered CloudFormation", extra={"status": body.get("Status"), "http": resp.status})
                return True
            log.error("CloudFormation refused the answer", extra={"http": resp.status, "host": parts.hostname})
            if resp.status < 500:
                return False  # an expired or altered URL: retrying cannot help
        except OSError as exc:
            log.warning("answering CloudFormation failed", extra={"error": str(exc), "attempt": attempt + 1})
        if attempt + 1 < attempts:
            sleep(min(0.5 * 2 ** attempt, 5.0))
    return False


def fit_reason(reason: str, limit: int = MAX_REASON) -> str:
    """Keep the head of a reason (it names the field and the rule); CloudFormation shows it to the user."""
    reason = " ".join(str(reason).split())
    return reason if len(reason) <= limit else reason[: limit - 15] + " ...(truncated)"


def not_created_id(event: dict[str, Any]) -> str:
    """The physical id of a request that created nothing; its later Delete succeeds at once."""
    return f"portico:not-created:{event.get('RequestId', '')}"


class Provider(CfnResource):
    """crhelper's CfnResource, answering exactly once per request and within the 4 KB limit."""

    def __init__(self, **kwargs):
        self._answer_lock = threading.Lock()
        self._answered = False
        self.sender = put_response
        self.on_answer = None  # set per request once portico is configured: remembers the answer
        crhelper_log = logging.getLogger("crhelper.resource_helper")
        crhelper_log.disabled = True  # its init errors are judged (and logged) below
        try:
            super().__init__(**kwargs)
        finally:
            crhelper_log.disabled = False
        from botocore.exceptions import BotoCoreError

        if isinstance(self._init_failed, BotoCoreError):
            # crhelper builds Lambda/Events/Logs clients for its polling mode, which this provider does not
            # use; failing to build them (no region outside Lambda) must not fail every request.
            log.info("crhelper's polling clients are not available (not used here): %s", self._init_failed)
            self._init_failed = None
        elif self._init_failed is not None:
            log.error("crhelper failed to initialise: %s", self._init_failed)

    def _crhelper_init(self, event, context):
        with self._answer_lock:
            self._answered = False
            self.on_answer = None
        return super()._crhelper_init(event, context)

    def claim(self, physical_id: str) -> bool:
        """Take `physical_id` as the answer's physical id, unless the request was answered already (the
        timeout path): then whatever comes next must not be written, since no Delete would find it."""
        with self._answer_lock:
            if self._answered:
                return False
            self.PhysicalResourceId = physical_id
            return True

    def _send(self, status=None, reason="", send_response=None):
        with self._answer_lock:
            if self._answered:
                log.warning("a second answer to the same request was suppressed", extra={"status": status})
                return
            self._answered = True
        body = {
            "Status": status or self.Status or SUCCESS,
            "Reason": fit_reason(reason if status else self.Reason),
            "PhysicalResourceId": str(self.PhysicalResourceId or self._event.get("PhysicalResourceId")
                                      or not_created_id(self._event)),
            "StackId": self.StackId, "RequestId": self.RequestId, "LogicalResourceId": self.LogicalResourceId,
            "NoEcho": False,
            "Data": {k: v for k, v in (self.Data or {}).items() if not k.startswith("CrHelper")},
        }
        if len(json.dumps(body, default=str)) > MAX_RESPONSE_BYTES:
            body["Reason"] = fit_reason(body["Reason"], 200)
            if len(json.dumps(body, default=str)) > MAX_RESPONSE_BYTES:
                body.update(Status=FAILED, Data={},
                            Reason="the response data would exceed CloudFormation's 4 KB limit")
        self.sender(self._response_url, body)
        on_answer, self.on_answer = self.on_answer, None
        if on_answer and body["RequestId"]:
            on_answer(body)

    def _timeout(self):
        log.error("the Lambda timeout is near: answering FAILED before it")
        self._send(FAILED, "the provider ran out of time (Lambda timeout) before portico finished; the entry "
                           "stays and portico keeps reconciling it: update the stack again, or raise the Timeout")


helper = Provider(json_logging=False, log_level="INFO", boto_level="ERROR", sleep_on_delete=0, polling_interval=1)

try:  # an import failure must still answer FAILED (crhelper's init_failure), not leave the stack hanging
    from botocore.exceptions import ClientError

    from ..desired import choose_port
    from ..observed import Observed, read_load_balancers
    from ..reconcile import Reconciler
    from ..registry import FAILED as ENTRY_FAILED
    from ..registry import READY
    from ..settings import LISTENERS_PER_NLB
    from ..spec import SERVICE_RE, SPEC_ATTRIBUTES, SpecError, overlap, spec_view
    from ..state import Conflict, from_item, to_item
    from . import default_reconciler
except Exception as exc:  # noqa: BLE001 - any import error becomes the answer
    helper.init_failure(exc)


class Failure(Exception):
    """Answer FAILED with `reason`; `physical_id` None means: the physical id of the request, or not-created."""

    def __init__(self, reason: str, physical_id: str | None = None):
        super().__init__(reason)
        self.reason, self.physical_id = reason, physical_id


def prop_name(attribute: str) -> str:
    return attribute[:1].upper() + attribute[1:]


# Attributes that are strings (or a list) in the registry; every other one is a number or a boolean, which
# CloudFormation passes as a string ("8080", "true").
STRINGS = {"service", "cluster", "ecsService", "containerName", "path", "auth", "healthCheckPath"}
LISTS = {"methods"}
REQUIRED = {"service", "cluster", "containerPort", "path"}


def _number(value: Any) -> Any:
    """CloudFormation passes numbers as strings; anything that is not a number stays as it is, so the
    registry's own check reports it."""
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return value
        return number if number.is_finite() else value
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def route_item(properties: dict[str, Any]) -> dict[str, Any]:
    """ServiceRoute properties → a registry item (plain form). Unknown properties are refused by name."""
    allowed = {prop_name(a): a for a in SPEC_ATTRIBUTES}
    unknown = sorted(k for k in properties if k not in allowed and k not in CFN_PROPERTIES)
    if unknown:
        raise Failure(f"{unknown[0]}: not a property of {ROUTE}; allowed: {', '.join(allowed)}")
    item: dict[str, Any] = {}
    for prop, attr in allowed.items():
        if prop not in properties:
            continue
        value = properties[prop]
        if value == "" and attr not in REQUIRED:
            continue  # an empty optional parameter means "not set"
        if attr in LISTS and isinstance(value, str):
            value = [m.strip() for m in value.split(",") if m.strip()]
        elif attr not in STRINGS and attr not in LISTS:
            value = {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value
            value = _number(value)
        item[attr] = value
    return item


def spec_failure(exc: SpecError) -> Failure:
    prop = prop_name(exc.field) if exc.field in SPEC_ATTRIBUTES else None
    return Failure(f"{exc} (property {prop})" if prop else str(exc))


def spec_service(event: dict[str, Any]) -> str:
    return str((event.get("ResourceProperties") or {}).get("Service", ""))


def remaining(context: Any) -> float:
    try:
        return context.get_remaining_time_in_millis() / 1000.0
    except Exception:  # noqa: BLE001 - no context: behave as if a full Lambda timeout were left
        return 900.0


class ServiceRoutes:
    """Custom::ServiceRoute over the registry and `Reconciler.run`. Physical id = the service id."""

    def __init__(self, reconciler: Reconciler, *, sleep=time.sleep):
        self.r, self.sleep = reconciler, sleep
        self.registry, self.ddb, self.table = reconciler.registry, reconciler.clients.dynamodb, \
            reconciler.settings.state_table

    # -- the marker: which resource of a stack holds an entry (two logical ids may name one service) -------
    def holder(self, service: str) -> dict[str, Any]:
        got = self.ddb.get_item(TableName=self.table, Key=to_item({"pk": f"cfn#{service}"}), ConsistentRead=True)
        return from_item(got["Item"]) if "Item" in got else {}

    def set_holder(self, service: str, stack: str, logical: str, **extra: Any) -> None:
        self.ddb.put_item(TableName=self.table, Item=to_item(
            {"pk": f"cfn#{service}", "stack": stack, "logicalId": logical, **extra}))

    def drop_holder(self, service: str) -> None:
        self.ddb.delete_item(TableName=self.table, Key=to_item({"pk": f"cfn#{service}"}))

    def ledgered(self, service: str) -> bool:
        got = self.ddb.get_item(TableName=self.table, Key=to_item({"pk": f"svc#{service}"}), ConsistentRead=True)
        return "Item" in got

    def mine(self, item: dict[str, Any] | None, event: dict[str, Any]) -> bool:
        """The entry belongs to this stack, and to this resource of it (or to none in particular)."""
        if not item or item.get("owner") != event["StackId"]:
            return False
        held = self.holder(item["service"])
        return not held or held.get("stack") != event["StackId"] or held.get("logicalId") == event["LogicalResourceId"]

    # -- waiting for the reconcile --------------------------------------------------------------------
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
                if not problem and not self.ledgered(service):
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
        owner, logical = event["StackId"], event["LogicalResourceId"]
        previous = event.get("PhysicalResourceId") if event["RequestType"] == "Update" else None
        item = route_item(event.get("ResourceProperties") or {})
        try:
            spec = self.r.parse(item)
        except SpecError as exc:
            raise spec_failure(exc) from None
        service = spec.service
        replacing = previous if previous and previous != service else None
        before = self.registry.get(service)
        if before is not None and before.get("owner") != owner:
            who = f"stack {before['owner']}" if before.get("owner") else "someone outside CloudFormation " \
                                                                               "(no owner)"
            raise Failure(f"service {service!r} is already in the portico registry, owned by {who}; a "
                          "ServiceRoute never takes over an entry its stack did not create: choose another "
                          "Service, or remove the entry where it was made")
        moved = None
        try:
            moved = self.move_out(replacing, spec.path, event, context) if replacing else None
            self.clear_stale(service, spec.path, event, context)
            try:
                self.r.preflight(item)
            except SpecError as exc:
                raise spec_failure(exc) from None
            if not helper.claim(service):  # from here on the entry may exist: a rollback must find it
                raise Failure("the request was already answered (Lambda timeout); nothing was written")
            if before is None or spec_view(before) != spec_view(item):
                try:
                    self.registry.put_spec(item, owner=owner, expect_owner=owner)
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        raise
                    raise Failure(f"service {service!r} was just written to the registry by someone else; "
                                  "a ServiceRoute never takes over an entry its stack did not create") from None
            extra = {"movedFrom": moved} if moved else {}
            self.set_holder(service, owner, logical, **extra)
            result = self.converge(service, context, digest=spec.digest())
            if result.get("status") != READY:
                raise Failure(result.get("statusMessage") or "portico could not route the service", service)
        except Exception as exc:
            reason = exc.reason if isinstance(exc, Failure) else f"{type(exc).__name__}: {exc}"
            if replacing:  # the update fails: CloudFormation keeps the old resource, so leave it as it was
                self.undo(service, before, event, context)
                if moved:
                    self.restore(moved, event, context)
                raise Failure(reason, replacing) from exc
            if isinstance(exc, Failure) and exc.physical_id is None and helper.PhysicalResourceId == service:
                exc.physical_id = service
            raise
        data = {"ListenerPort": int(result["listenerPort"]), "InvokeUrl": result.get("invokeUrl"),
                "TargetGroupArn": result.get("targetGroupArn"), "Path": spec.path}
        return service, {k: v for k, v in data.items() if v is not None}

    def move_out(self, old: str, path: str, event: dict[str, Any], context: Any) -> dict[str, Any] | None:
        """A replacement that keeps (or nests) the path: paths are unique, so the old entry goes first.
        Returns the old entry's spec, kept so a rollback of this update can put it back."""
        if not SERVICE_RE.fullmatch(old or ""):
            return None
        current = self.registry.get(old)
        if not current or not self.mine(current, event) or not overlap(str(current.get("path")), path):
            return None
        kept = {**spec_view(current), "owner": current["owner"]}
        self.set_holder(old, event["StackId"], event["LogicalResourceId"], movedTo=spec_service(event))
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
            held = self.holder(other)
            if held.get("stack") != owner or held.get("logicalId") != logical:
                continue
            log.info("removing a left-over entry of this resource", extra={"service": other})
            self.registry.delete(other, expect_owner=owner)
            self.drop_holder(other)
            self.converge(other, context, digest=None)

    def undo(self, service: str, before: dict[str, Any] | None, event: dict[str, Any], context: Any) -> None:
        if before is not None or helper.PhysicalResourceId != service:
            return  # nothing written by this request, or the entry was there before it
        try:
            self.registry.delete(service, expect_owner=event["StackId"])
            self.drop_holder(service)
            self.converge(service, context, digest=None)
        except Exception:  # noqa: BLE001 - best effort: the answer is FAILED either way
            log.exception("could not remove the entry of a failed replacement", extra={"service": service})

    def restore(self, kept: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        service = kept["service"]
        try:
            self.registry.put_spec(kept, owner=kept["owner"], expect_owner=kept["owner"])
            self.set_holder(service, event["StackId"], event["LogicalResourceId"])
            self.converge(service, context, digest=self.r.parse(kept).digest())
        except Exception:  # noqa: BLE001 - best effort: the sweeper keeps reconciling the restored entry
            log.exception("could not restore the entry of a rolled-back replacement", extra={"service": service})

    def delete(self, event: dict[str, Any], context: Any) -> tuple[str, dict[str, Any]]:
        service = event.get("PhysicalResourceId") or ""
        if not SERVICE_RE.fullmatch(service):
            return service, {}  # never created (a failed Create): nothing to remove
        owner, logical = event["StackId"], event["LogicalResourceId"]
        item = self.registry.get(service)
        held = self.holder(service)
        ours = held.get("stack") == owner and held.get("logicalId") == logical
        if item is None:
            if ours and held.get("movedTo"):  # the old half of a finished move: the new entry stays
                target = self.holder(held["movedTo"])
                if target.get("movedFrom"):
                    self.set_holder(held["movedTo"], target["stack"], target["logicalId"])
            elif ours and self.ledgered(service):
                self.converge(service, context, digest=None)  # a Delete retried after a failed teardown
            if ours:
                self.drop_holder(service)
            return service, {}
        if not self.mine(item, event):
            helper.Reason = f"entry {service} is not this resource's (owner {item.get('owner') or 'none'}); left"
            return service, {}
        try:
            self.registry.delete(service, expect_owner=owner)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return service, {}  # taken over meanwhile: not ours to remove
        self.converge(service, context, digest=None)
        moved = held.get("movedFrom") if ours else None
        if held.get("stack") == owner:
            self.drop_holder(service)
        if moved:  # a replacement rolled back before CloudFormation deleted the old entry: put it back
            old_held = self.holder(moved["service"])
            if old_held.get("movedTo") == service and self.registry.get(moved["service"]) is None:
                self.restore(moved, event, context)
        return service, {}


class ListenerPorts:
    """Custom::ListenerPort: a listener port on portico's NLB, reserved for a stack. Physical id `<lb>#<port>`."""

    def __init__(self, reconciler: Reconciler):
        self.r = reconciler
        self.state, self.settings = reconciler.state, reconciler.settings

    @staticmethod
    def owner(event: dict[str, Any]) -> str:
        return f"cfn:{event['StackId']}#{event['LogicalResourceId']}"

    @staticmethod
    def wanted_port(properties: dict[str, Any]) -> int | None:
        unknown = sorted(k for k in properties if k not in ("Port", *CFN_PROPERTIES))
        if unknown:
            raise Failure(f"{unknown[0]}: not a property of {PORT}; allowed: Port")
        value = properties.get("Port")
        if value in (None, ""):
            return None
        number = _number(value)
        if isinstance(number, bool) or not isinstance(number, (int, Decimal)) or number != int(number) \
                or not 1 <= int(number) <= 65535:
            raise Failure(f"Port: must be a whole number from 1 to 65535, got {value!r}")
        return int(number)

    def observed(self) -> Observed:
        return Observed(state=self.state.snapshot(), load_balancers=read_load_balancers(self.r.clients.elbv2,
                                                                                        self.settings),
                        target_groups={}, resources={}, ecs={})

    def upsert(self, event: dict[str, Any], context: Any) -> tuple[str, dict[str, Any]]:
        owner = self.owner(event)
        port = self.wanted_port(event.get("ResourceProperties") or {})
        for _ in range(5):
            obs = self.observed()
            held = sorted((lb, p) for (lb, p), o in obs.state.ports.items() if o == owner)
            current = event.get("PhysicalResourceId")
            mine = sorted((h for h in held if port in (None, h[1])), key=lambda h: f"{h[0]}#{h[1]}" != current)
            if mine:  # a duplicate delivery, or an Update that keeps the port
                lb, chosen = mine[0]
            elif port is None:
                try:
                    lb, chosen = choose_port(owner, obs, self.settings)
                except SpecError as exc:
                    raise Failure(str(exc)) from None
            else:
                lb, chosen = self.check_specific(obs, port)
            try:
                self.state.reserve_port(owner, lb, chosen)
            except Conflict:
                if port is not None:
                    raise Failure(f"Port: {port} was just reserved by someone else") from None
                continue  # lost a race for that port: choose again
            # A changed Port is a new physical id: CloudFormation's Delete of the old id releases the old port.
            return f"{lb}#{chosen}", {"Port": chosen, "LoadBalancerArn": lb}
        raise Failure("no free listener port after 5 attempts: other reconciles keep taking them; try again")

    def check_specific(self, obs: Observed, port: int) -> tuple[str, int]:
        """The first load balancer of the pool where `port` is free, or why it is free on none."""
        reasons = []
        for arn in self.settings.load_balancer_arns:
            lb = obs.load_balancers.get(arn)
            if lb is None:
                continue
            holder = obs.state.ports.get((arn, port))
            if holder is not None:
                reasons.append(f"Port: {port} is already reserved by {holder}")
            elif port in lb.listeners:
                reasons.append(f"Port: {port} is used by a listener on the load balancer")
            elif len({p for (a, p) in obs.state.ports if a == arn} | set(lb.listeners)) >= LISTENERS_PER_NLB:
                reasons.append(f"Port: the load balancer already has {LISTENERS_PER_NLB} listeners or reservations")
            else:
                return arn, port
        raise Failure(reasons[0] if reasons else "no portico load balancer found (PORTICO_LOAD_BALANCER_ARNS)")

    def delete(self, event: dict[str, Any], context: Any) -> tuple[str, dict[str, Any]]:
        physical = event.get("PhysicalResourceId") or ""
        lb, _, port = physical.rpartition("#")
        if lb.startswith("arn:") and port.isdigit():
            self.state.release_port(self.owner(event), lb, int(port))  # only if this resource holds it
        return physical, {}


class ApiGatewayAccount:
    """Custom::ApiGatewayAccount: API Gateway's CloudWatch Logs role for the account and region, set to
    `CloudWatchRoleArn` only where `GetAccount` shows none; an existing role is kept (data `Configured` =
    `kept` or `set`). Delete changes nothing: once set, every API of the region logs through the role.

    A role created in the same stack is not usable at once: UpdateAccount answers BadRequestException ("The
    role ARN does not have required permissions set to API Gateway") until IAM has propagated it
    (https://github.com/aws/aws-cdk/issues/2194); the Serverless Framework's equivalent custom resource
    retries 10 times, 10 s apart (https://github.com/serverless/serverless/blob/main/lib/plugins/aws/
    custom-resources/resources/api-gateway-cloud-watch-role/handler.js). So does this one, within the time left.
    """

    PHYSICAL_ID = "portico:apigateway-account"
    ROLE_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
    ATTEMPTS, PAUSE_SECONDS = 10, 10.0

    def __init__(self, reconciler: Reconciler, *, sleep=time.sleep):
        self.apigateway, self.stack, self.sleep = reconciler.clients.apigateway, reconciler.settings.stack, sleep

    def upsert(self, event: dict[str, Any], context: Any) -> tuple[str, dict[str, Any]]:
        stack = str(event.get("StackId", "")).split(":stack/")[-1].split("/")[0]
        if stack != self.stack:
            raise Failure(f"{ACCOUNT} is served for portico's own stack ({self.stack}) only, not for {stack!r}")
        props = event.get("ResourceProperties") or {}
        unknown = sorted(k for k in props if k not in ("CloudWatchRoleArn", *CFN_PROPERTIES))
        if unknown:
            raise Failure(f"{unknown[0]}: not a property of {ACCOUNT}; allowed: CloudWatchRoleArn")
        role = str(props.get("CloudWatchRoleArn", ""))
        if not self.ROLE_RE.fullmatch(role):
            raise Failure(f"CloudWatchRoleArn: must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), got {role!r}")
        current = self.apigateway.get_account().get("cloudwatchRoleArn")
        if current:
            log.info("the account has a CloudWatch role: kept", extra={"role": current})
            return self.PHYSICAL_ID, {"CloudWatchRoleArn": current, "Configured": "kept"}
        for attempt in range(1, self.ATTEMPTS + 1):
            try:
                self.apigateway.update_account(patchOperations=[
                    {"op": "replace", "path": "/cloudwatchRoleArn", "value": role}])
                break
            except ClientError as exc:
                left = remaining(context) - ANSWER_MARGIN_SECONDS
                if exc.response["Error"]["Code"] != "BadRequestException" or attempt == self.ATTEMPTS \
                        or left < self.PAUSE_SECONDS:
                    raise Failure(f"CloudWatchRoleArn: API Gateway refused {role}: "
                                  f"{exc.response['Error'].get('Message', exc)}") from None
                log.info("the role is not usable yet (IAM propagation): retrying", extra={"attempt": attempt})
                self.sleep(self.PAUSE_SECONDS)
        log.info("set the account's CloudWatch role", extra={"role": role})
        return self.PHYSICAL_ID, {"CloudWatchRoleArn": role, "Configured": "set"}

    def delete(self, event: dict[str, Any], context: Any) -> tuple[str, dict[str, Any]]:
        return event.get("PhysicalResourceId") or self.PHYSICAL_ID, {}


class Answers:
    """The answer given to each request (`cfnreq#<RequestId>` in portico's state table, kept 7 days).

    Lambda retries an asynchronous invocation that failed or timed out; CloudFormation has already taken
    the first answer and may be rolling back. The retry re-sends that answer instead of redoing the work
    (a redone Create racing the rollback's Delete could leave an entry behind).
    """

    KEEP_SECONDS = 7 * 24 * 3600

    def __init__(self, reconciler: Reconciler):
        self.ddb, self.table = reconciler.clients.dynamodb, reconciler.settings.state_table

    def recall(self, request_id: str) -> dict[str, Any] | None:
        if not request_id:
            return None
        got = self.ddb.get_item(TableName=self.table, Key={"pk": {"S": f"cfnreq#{request_id}"}},
                                ConsistentRead=True)
        return json.loads(got["Item"]["answer"]["S"]) if "Item" in got else None

    def remember(self, body: dict[str, Any]) -> None:
        try:
            self.ddb.put_item(TableName=self.table, Item=to_item({
                "pk": f"cfnreq#{body['RequestId']}", "answer": json.dumps(body, default=str),
                "expiresAt": int(time.time()) + self.KEEP_SECONDS}))
        except Exception:  # noqa: BLE001 - the answer is sent; remembering it is an optimisation
            log.warning("could not record the answer", exc_info=True)


KINDS = {ROUTE: ServiceRoutes, PORT: ListenerPorts, ACCOUNT: ApiGatewayAccount}


def _answer(event: dict[str, Any], context: Any) -> str:
    """Shared by Create, Update and Delete: dispatch on the resource type, turn every error into FAILED."""
    kind, request = event.get("ResourceType"), event.get("RequestType")
    if request == "Delete" and kind == ROUTE and not SERVICE_RE.fullmatch(event.get("PhysicalResourceId") or ""):
        return event.get("PhysicalResourceId") or not_created_id(event)
    if kind not in KINDS:
        if request == "Delete":
            return event.get("PhysicalResourceId") or not_created_id(event)
        helper.Status, helper.Reason = FAILED, f"ResourceType: {kind!r} is not served here; use {ROUTE} or {PORT}"
        return event.get("PhysicalResourceId") or not_created_id(event)
    try:
        reconciler = default_reconciler()
        # The account check is idempotent and its function's role reaches no table: no remembered answers.
        answers = Answers(reconciler) if kind != ACCOUNT else None
        if answers:
            helper.on_answer = answers.remember
        prior = answers.recall(event.get("RequestId", "")) if answers else None
        if prior:  # Lambda delivered this request again (e.g. after a timeout): the same answer, no work
            helper.Status, helper.Reason = prior["Status"], prior.get("Reason", "")
            helper.Data.update(prior.get("Data") or {})
            return prior["PhysicalResourceId"]
        impl = KINDS[kind](reconciler)
        physical, data = (impl.delete if request == "Delete" else impl.upsert)(event, context)
        helper.Data.update(data)
        return physical
    except Failure as failure:
        reason, physical = failure.reason, failure.physical_id
    except SpecError as exc:
        reason, physical = str(exc), None
    except Exception as exc:  # noqa: BLE001 - anything else still answers, with what happened
        log.exception("custom resource request failed", extra={"type": kind, "request": request})
        reason, physical = f"{type(exc).__name__}: {exc}", None
    helper.Status, helper.Reason = FAILED, reason
    return physical or event.get("PhysicalResourceId") or (
        helper.PhysicalResourceId if request == "Create" and helper.PhysicalResourceId else not_created_id(event))


helper.create(_answer)
helper.update(_answer)
helper.delete(_answer)


def handler(event: dict[str, Any], context: Any) -> None:
    helper(event, context)
