"""CloudFormation front-end: `Custom::ServiceRoute` and `Custom::ListenerPort` (see `cfn/`), one crhelper provider.

crhelper's public API (https://github.com/aws-cloudformation/custom-resource-helper) runs every request: its
`create`/`update`/`delete` dispatch to `respond`, `init_failure` answers FAILED when portico fails to import, its
timer answers FAILED just before the Lambda timeout, and the answer is its `Status`, `Reason`, `PhysicalResourceId`
and `Data`. Every request gets exactly one answer, sent by `Provider._send`, the one seam into crhelper's internals.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from botocore.exceptions import BotoCoreError
from crhelper import CfnResource

from .cfn.answer import FAILED, SUCCESS, fit_body, fit_reason, log, not_created_id, put_response

OUT_OF_TIME = ("the provider ran out of time (Lambda timeout) before portico finished; the entry stays and portico "
               "keeps reconciling it: update the stack again, or raise the Timeout")


class Provider(CfnResource):
    """crhelper's CfnResource, answering exactly once per request and within the 4 KB limit."""

    def __init__(self, **kwargs):
        self._answer_lock = threading.Lock()
        self._answered = False
        self._request: dict[str, Any] = {}
        self._request_thread: int | None = None  # crhelper's timer answers from another thread
        self.sender = put_response
        self.on_answer = None  # set per request once portico is configured: remembers the answer
        self._starting = True
        crhelper_log = logging.getLogger("crhelper.resource_helper")
        crhelper_log.disabled = True  # its init errors are judged (and logged) by init_failure below
        try:
            super().__init__(**kwargs)
        finally:
            crhelper_log.disabled = self._starting = False

    def init_failure(self, error: Any) -> None:
        """Every request answers FAILED with `error` (crhelper's hook); not so for crhelper's polling clients
        (Lambda, Events, Logs), which this provider does not use: failing to build them at start (no region
        outside Lambda) must not fail every request."""
        if self._starting and isinstance(error, BotoCoreError):
            log.info("crhelper's polling clients are not available (not used here): %s", error)
            return
        if self._starting:
            log.error("crhelper failed to initialise: %s", error)
        super().init_failure(error)

    def __call__(self, event: dict[str, Any], context: Any) -> None:
        """One request, through crhelper, with a fresh answer: none sent yet, nothing to remember it with."""
        with self._answer_lock:
            self._answered, self.on_answer = False, None
            self._request, self._request_thread = event, threading.get_ident()
        super().__call__(event, context)

    def claim(self, physical_id: str) -> bool:
        """Take `physical_id` as the answer's physical id, unless the request was answered already (the
        timeout path): then whatever comes next must not be written, since no Delete would find it."""
        with self._answer_lock:
            if self._answered:
                return False
            self.PhysicalResourceId = physical_id
            return True

    def _send(self, status=None, reason="", send_response=None):
        """The one seam: crhelper makes every answer (dispatch, init failure, timer) through `CfnResource._send`,
        whose sender speaks HTTPS only (the local stack's ResponseURL is plain http on loopback), retries
        without a bound and keeps a long reason's tail. Here the answer goes once (the timer and the late work
        race), within CloudFormation's 4 KB, keeping the reason's head, through `put_response` (bounded).
        tests/provider/test_answer.py fails if the crhelper in the lock renames or reshapes it."""
        with self._answer_lock:
            if self._answered:
                log.warning("a second answer to the same request was suppressed", extra={"status": status})
                return
            self._answered = True
        if threading.get_ident() != self._request_thread:  # crhelper's timer, with its generic reason
            status, reason = FAILED, OUT_OF_TIME
        request = self._request
        body = fit_body({
            "Status": status or self.Status or SUCCESS,
            "Reason": fit_reason(reason if status else self.Reason),
            "PhysicalResourceId": str(self.PhysicalResourceId or request.get("PhysicalResourceId")
                                      or not_created_id(request)),
            "StackId": self.StackId, "RequestId": self.RequestId, "LogicalResourceId": self.LogicalResourceId,
            "NoEcho": False,
            "Data": {k: v for k, v in (self.Data or {}).items() if not k.startswith("CrHelper")},
        })
        self.sender(request.get("ResponseURL", ""), body)
        on_answer, self.on_answer = self.on_answer, None
        if on_answer and body["RequestId"]:
            on_answer(body)


helper = Provider(json_logging=False, log_level="INFO", boto_level="ERROR", sleep_on_delete=0, polling_interval=1)

try:  # an import failure must still answer FAILED (crhelper's init_failure), not leave the stack hanging
    from .cfn.request import respond
except Exception as exc:  # noqa: BLE001 - any import error becomes the answer
    helper.init_failure(exc)


def _answer(event: dict[str, Any], context: Any) -> str:
    return respond(event, context, helper)


helper.create(_answer)
helper.update(_answer)
helper.delete(_answer)


def handler(event: dict[str, Any], context: Any) -> None:
    helper(event, context)
