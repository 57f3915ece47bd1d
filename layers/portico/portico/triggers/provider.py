"""CloudFormation front-end: `Custom::ServiceRoute` and `Custom::ListenerPort` (see `cfn/`), one crhelper provider.

Every request gets exactly one answer (`Provider._send` answers once; crhelper's timer answers FAILED just
before the Lambda timeout; an import failure of portico answers FAILED through `init_failure`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from crhelper import CfnResource

from .cfn.answer import FAILED, SUCCESS, fit_body, fit_reason, log, not_created_id, put_response


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
        body = fit_body({
            "Status": status or self.Status or SUCCESS,
            "Reason": fit_reason(reason if status else self.Reason),
            "PhysicalResourceId": str(self.PhysicalResourceId or self._event.get("PhysicalResourceId")
                                      or not_created_id(self._event)),
            "StackId": self.StackId, "RequestId": self.RequestId, "LogicalResourceId": self.LogicalResourceId,
            "NoEcho": False,
            "Data": {k: v for k, v in (self.Data or {}).items() if not k.startswith("CrHelper")},
        })
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
