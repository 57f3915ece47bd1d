"""The answer to a CloudFormation request: a body within CloudFormation's limits, PUT to the pre-signed URL.

Standard library only: the provider answers through this module even when the rest of portico fails to import.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from http.client import HTTPConnection, HTTPSConnection
from typing import Any, Protocol
from urllib.parse import urlsplit

log = logging.getLogger("portico.provider")

SUCCESS, FAILED = "SUCCESS", "FAILED"
# CloudFormation's limit for a custom resource response:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-responses.html
MAX_RESPONSE_BYTES = 4096
MAX_REASON = 1000
ANSWER_MARGIN_SECONDS = 30.0  # stop waiting this long before the Lambda timeout: one answer always fits


class Reply(Protocol):
    """The answer being made to the request at hand (the provider, a crhelper `CfnResource`)."""

    Status: str
    Reason: str
    PhysicalResourceId: str
    Data: dict[str, Any]
    on_answer: Callable[[dict[str, Any]], None] | None  # called with the body once it is sent

    def claim(self, physical_id: str) -> bool:
        """Take `physical_id` as the answer's, unless the request was answered already (then: False)."""


class Failure(Exception):
    """Answer FAILED with `reason`; `physical_id` None means: the physical id of the request, or not-created."""

    def __init__(self, reason: str, physical_id: str | None = None):
        super().__init__(reason)
        self.reason, self.physical_id = reason, physical_id


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


def fit_body(body: dict[str, Any]) -> dict[str, Any]:
    """`body` within CloudFormation's 4 KB: a shorter reason first, else a small FAILED without the data."""
    if len(json.dumps(body, default=str)) > MAX_RESPONSE_BYTES:
        body["Reason"] = fit_reason(body["Reason"], 200)
        if len(json.dumps(body, default=str)) > MAX_RESPONSE_BYTES:
            body.update(Status=FAILED, Data={}, Reason="the response data would exceed CloudFormation's 4 KB limit")
    return body


def remaining(context: Any) -> float:
    """Seconds left before the Lambda timeout."""
    try:
        return context.get_remaining_time_in_millis() / 1000.0
    except Exception:  # noqa: BLE001 - no context: behave as if a full Lambda timeout were left
        return 900.0


def not_created_id(event: dict[str, Any]) -> str:
    """The physical id of a request that created nothing; its later Delete succeeds at once."""
    return f"portico:not-created:{event.get('RequestId', '')}"
