"""One CloudFormation request → the handler of its resource type; every error becomes a FAILED answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...reconcile import Reconciler
from ...spec import SERVICE_RE, SpecError
from ...state import StateTable
from .. import default_reconciler
from .answer import FAILED, Failure, Reply, log, not_created_id
from .apigateway_account import ApiGatewayAccount
from .listener_port import ListenerPorts
from .properties import ACCOUNT, PORT, ROUTE
from .service_route import ServiceRoutes

ANSWER_KEPT_SECONDS = 7 * 24 * 3600
KINDS: dict[str, Callable[[Reconciler, Reply], Any]] = {  # resource type -> its handler, made per request
    ROUTE: ServiceRoutes,
    PORT: lambda reconciler, _: ListenerPorts(reconciler),
    ACCOUNT: lambda reconciler, _: ApiGatewayAccount(reconciler),
}


def remember(state: StateTable, body: dict[str, Any]) -> None:
    try:
        state.remember_answer(body, ANSWER_KEPT_SECONDS)
    except Exception:  # noqa: BLE001 - the answer is sent; remembering it is an optimisation
        log.warning("could not record the answer", exc_info=True)


def respond(event: dict[str, Any], context: Any, reply: Reply) -> str:
    """Create, Update and Delete alike: dispatch on the resource type; returns the physical id."""
    kind, request = event.get("ResourceType"), event.get("RequestType")
    if request == "Delete" and kind == ROUTE and not SERVICE_RE.fullmatch(event.get("PhysicalResourceId") or ""):
        return event.get("PhysicalResourceId") or not_created_id(event)
    if kind not in KINDS:
        if request == "Delete":
            return event.get("PhysicalResourceId") or not_created_id(event)
        reply.Status, reply.Reason = FAILED, f"ResourceType: {kind!r} is not served here; use {ROUTE} or {PORT}"
        return event.get("PhysicalResourceId") or not_created_id(event)
    try:
        reconciler = default_reconciler()
        # Lambda retries an invocation that failed or timed out, while CloudFormation, which took the first
        # answer, may be rolling back: re-send that answer instead of redoing the work (a redone Create racing
        # the rollback's Delete could leave an entry behind). The account check is idempotent and its
        # function's role reaches no table: no remembered answers.
        remembers = kind != ACCOUNT
        if remembers:
            reply.on_answer = lambda body: remember(reconciler.state, body)
        prior = reconciler.state.recall_answer(event.get("RequestId", "")) if remembers else None
        if prior:
            reply.Status, reply.Reason = prior["Status"], prior.get("Reason", "")
            reply.Data.update(prior.get("Data") or {})
            return prior["PhysicalResourceId"]
        impl = KINDS[kind](reconciler, reply)
        physical, data = (impl.delete if request == "Delete" else impl.upsert)(event, context)
        reply.Data.update(data)
        return physical
    except Failure as failure:
        reason, physical = failure.reason, failure.physical_id
    except SpecError as exc:
        reason, physical = str(exc), None
    except Exception as exc:  # noqa: BLE001 - anything else still answers, with what happened
        log.exception("custom resource request failed", extra={"type": kind, "request": request})
        reason, physical = f"{type(exc).__name__}: {exc}", None
    reply.Status, reply.Reason = FAILED, reason
    return physical or event.get("PhysicalResourceId") or (
        reply.PhysicalResourceId if request == "Create" and reply.PhysicalResourceId else not_created_id(event))
