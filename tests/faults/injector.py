"""Fault injection and call counting for real boto3 clients pointed at the moto server.

Hooks on each client's event system, so botocore's real retry logic runs (the Stubber bypasses it):

- `before-call`: one count per API operation (what `calls()` reports) and a scheduler hook;
- `before-send`: one count per wire attempt (retries included); a matching rule returns a synthetic
  error response in the service's own protocol format (query XML, ec2 XML, json `__type`, rest-json
  `x-amzn-ErrorType`), or raises botocore's ReadTimeoutError;
- `after-call`: "crash after the k-th mutating call": the k-th mutating call reaches AWS, then the
  process "dies" (`Crash`, a BaseException no handler catches) and every later call dies too.

    inj = Injector().attach(clients)
    inj.fail("throttle", service="elbv2", operation="CreateListener", times=2)
    inj.crash_after(7)
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ReadTimeoutError

READ_PREFIXES = ("Describe", "Get", "List", "Scan", "Query", "BatchGet")
ALIASES = {"elbv2": "elastic-load-balancing-v2", "apigateway": "api-gateway", "dynamodbstreams": "dynamodb-streams"}
SHORT = {v: k for k, v in ALIASES.items()}


class Crash(BaseException):  # noqa: N818 - it is not an error a handler may catch: the process is gone
    """The process died (simulated). A BaseException, so no `except Exception` in portico swallows it."""


def is_mutating(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


def service_name(name: str) -> str:
    """'elbv2' or 'elastic-load-balancing-v2' -> the short name used in reports ('elbv2')."""
    return SHORT.get(name, name)


# -- synthetic error responses, one builder per protocol -------------------------------------------------
# kind -> protocol -> (error code, HTTP status, message)
ERRORS: dict[str, dict[str, tuple[str, int, str]]] = {
    "throttle": {"query": ("Throttling", 400, "Rate exceeded"),
                 "ec2": ("RequestLimitExceeded", 503, "Request limit exceeded."),
                 "json": ("ThrottlingException", 400, "Rate exceeded"),
                 "rest-json": ("TooManyRequestsException", 429, "Too Many Requests")},
    "5xx": {"query": ("InternalFailure", 500, "An internal error occurred"),
            "ec2": ("InternalError", 500, "An internal error has occurred"),
            "json": ("InternalServerError", 500, "Internal server error"),
            "rest-json": ("ServiceUnavailableException", 503, "Service Unavailable")},
    "limit": {"query": ("TooManyListeners", 400, "You've reached the limit on the number of listeners per load "
                                                 "balancer"),
              "ec2": ("ResourceLimitExceeded", 400, "You have reached the limit"),
              "json": ("LimitExceededException", 400, "Too many resources of this type"),
              "rest-json": ("LimitExceededException", 429, "Resource limit exceeded: resources per API")},
}


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_: Any):
        yield self.body

    def read(self, *_: Any) -> bytes:
        return self.body


def error_response(protocol: str, url: str, code: str, status: int, message: str) -> AWSResponse:
    rid = str(uuid.uuid4())
    if protocol == "query":
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                f"</Error><RequestId>{rid}</RequestId></ErrorResponse>")
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": rid}
    elif protocol == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                f"<RequestID>{rid}</RequestID></Response>")
        headers = {"Content-Type": "text/xml"}
    elif protocol == "json":
        body = json.dumps({"__type": f"com.amazonaws.portico.fault#{code}", "message": message})
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": rid}
    elif protocol == "rest-json":
        body = json.dumps({"message": message})
        headers = {"Content-Type": "application/json", "x-amzn-RequestId": rid,
                   "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazonaws.backplane/"}
    else:
        raise NotImplementedError(f"no synthetic errors for the {protocol} protocol")
    return AWSResponse(url, status, headers, _Raw(body.encode()))


@dataclass
class Rule:
    kind: str  # throttle | 5xx | limit | timeout | error
    service: str | None = None  # short or hyphenated service name; None = any
    operation: str | None = None  # API operation name; None = any
    times: int | None = 1  # how many matching attempts fail; None = all of them
    code: str | None = None  # override the error code (kind "error" requires it)
    status: int = 400
    message: str = "injected fault"
    when: Callable[[str, str], bool] | None = None
    needle: str | None = None  # only requests whose URL or body contains this text
    hits: int = 0

    def matches(self, service: str, operation: str, request: Any = None) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.service and ALIASES.get(self.service, self.service) != service:
            return False
        if self.operation and self.operation != operation:
            return False
        if self.needle is not None:
            body = request.body if request is not None else b""
            text = (request.url if request is not None else "") + (
                body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or ""))
            if self.needle not in text:
                return False
        return self.when is None or self.when(service, operation)


@dataclass
class Injector:
    rules: list[Rule] = field(default_factory=list)
    ops: list[tuple[str, str]] = field(default_factory=list)  # (service, operation): one per API call
    sent: list[tuple[str, str]] = field(default_factory=list)  # one per wire attempt (retries included)
    injected: list[tuple[str, str, str]] = field(default_factory=list)  # (service, operation, code)
    crash_at: int | None = None
    mutations: int = 0
    dead: bool = False
    on_call: Callable[[str, str], None] | None = None  # scheduler hook, runs before every API call
    _protocols: dict[str, str] = field(default_factory=dict)

    # -- wiring ----------------------------------------------------------------------------------------
    def attach(self, *targets: Any) -> Injector:
        """Hook boto3 clients, or `portico.clients.Clients` objects (all their clients)."""
        for target in targets:
            clients: Iterable[Any] = target.all() + [target.streams] if hasattr(target, "all") else [target]
            for client in clients:
                if client is None:
                    continue
                model = client.meta.service_model
                self._protocols[model.service_id.hyphenize()] = model.protocol
                events = client.meta.events
                events.register("before-call", self._before_call)
                events.register("before-send", self._before_send)
                events.register("after-call", self._after_call)
        return self

    # -- configuration ---------------------------------------------------------------------------------
    def fail(self, kind: str, service: str | None = None, operation: str | None = None, *, times: int | None = 1,
             code: str | None = None, status: int = 400, message: str = "injected fault",
             when: Callable[[str, str], bool] | None = None, needle: str | None = None) -> Rule:
        if kind not in (*ERRORS, "timeout", "error"):
            raise ValueError(f"unknown fault kind {kind!r}")
        rule = Rule(kind, service, operation, times, code, status, message, when, needle)
        self.rules.append(rule)
        return rule

    def crash_after(self, k: int) -> Injector:
        """The k-th mutating call (1-based) reaches AWS; then the process dies."""
        self.crash_at, self.mutations, self.dead = k, 0, False
        return self

    def clear(self) -> None:
        self.rules.clear()
        self.crash_at, self.dead = None, False

    def reset_counts(self) -> None:
        self.ops.clear()
        self.sent.clear()
        self.injected.clear()
        self.mutations = 0

    # -- hooks -----------------------------------------------------------------------------------------
    def _split(self, event_name: str) -> tuple[str, str]:
        _, service, operation = event_name.split(".", 2)
        return service, operation

    def _before_call(self, event_name: str, **_: Any) -> None:
        if self.dead:
            raise Crash("the process is dead")
        service, operation = self._split(event_name)
        self.ops.append((service_name(service), operation))
        if self.on_call:
            self.on_call(service_name(service), operation)

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        if self.dead:
            raise Crash("the process is dead")
        service, operation = self._split(event_name)
        self.sent.append((service_name(service), operation))
        for rule in self.rules:
            if not rule.matches(service, operation, request):
                continue
            rule.hits += 1
            if rule.kind == "timeout":
                self.injected.append((service_name(service), operation, "ReadTimeoutError"))
                raise ReadTimeoutError(endpoint_url=request.url)
            protocol = self._protocols.get(service, "json")
            if rule.kind == "error":
                code, status, message = rule.code or "InjectedError", rule.status, rule.message
            else:
                code, status, message = ERRORS[rule.kind][protocol]
                code = rule.code or code
            self.injected.append((service_name(service), operation, code))
            return error_response(protocol, request.url, code, status, message)
        return None

    def _after_call(self, event_name: str, **_: Any) -> None:
        service, operation = self._split(event_name)
        if self.crash_at is None or not is_mutating(operation):
            return
        self.mutations += 1
        if self.mutations >= self.crash_at:
            self.dead = True
            raise Crash(f"crashed after mutating call #{self.mutations} ({service_name(service)}.{operation})")

    # -- reports ---------------------------------------------------------------------------------------
    def calls(self, *, mutating: bool | None = None,
              service: str | Iterable[str] | None = None) -> list[tuple[str, str]]:
        services = {service} if isinstance(service, str) else set(service) if service else None
        return [(s, o) for s, o in self.ops
                if (mutating is None or is_mutating(o) == mutating) and (services is None or s in services)]

    def writes(self, service: str | Iterable[str] | None = None) -> list[tuple[str, str]]:
        return self.calls(mutating=True, service=service)

    def reads(self, service: str | Iterable[str] | None = None) -> list[tuple[str, str]]:
        return self.calls(mutating=False, service=service)

    def table(self) -> Counter:
        return Counter(self.ops)


def client_error(code: str, message: str = "", operation: str = "Operation", status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)
