"""The answer itself: bounded delivery, exactly once, at most 4 KB. No AWS needed."""

from __future__ import annotations

import inspect
import socket
import threading
from types import SimpleNamespace

from crhelper import CfnResource

from portico.triggers import provider
from portico.triggers.cfn import answer


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_delivery_gives_up_after_bounded_retries():
    sleeps: list[float] = []
    ok = answer.put_response(f"http://127.0.0.1:{closed_port()}/r?sig=x", {"Status": "SUCCESS"}, sleep=sleeps.append)
    assert ok is False and len(sleeps) == 4 and sum(sleeps) <= 10


def test_no_usable_url_is_not_an_exception():
    assert answer.put_response("", {}) is False
    assert answer.put_response("ftp://host/x", {}) is False


def make_helper(sent: list, work) -> provider.Provider:
    """A provider whose Update runs `work`, its answers recorded instead of sent."""
    helper = provider.Provider(json_logging=False, log_level="INFO", sleep_on_delete=0, polling_interval=1)
    helper.sender = lambda url, body: sent.append(body)
    helper.update(work)
    return helper


def update(helper: provider.Provider, seconds: float = 60.0) -> None:
    """An Update of `orders` through crhelper's entry point, `seconds` before the Lambda timeout."""
    helper({"RequestType": "Update", "RequestId": "r1", "StackId": "arn:stack", "LogicalResourceId": "Route",
            "PhysicalResourceId": "orders", "ResponseURL": "http://127.0.0.1:9/x", "ResourceProperties": {}},
           SimpleNamespace(get_remaining_time_in_millis=lambda: int(seconds * 1000)))


def test_crhelper_answers_through_the_one_seam():
    """The crhelper in the lock still makes every answer through `CfnResource._send(status, reason, ...)`, and
    the provider overrides no other private name of crhelper's."""
    assert list(inspect.signature(CfnResource._send).parameters) == ["self", "status", "reason", "send_response"]
    private = {name for name in vars(provider.Provider) if name.startswith("_") and not name.startswith("__")}
    assert private & set(vars(CfnResource)) == {"_send"}


def test_only_the_first_answer_is_sent():
    sent: list[dict] = []
    timer_answered = threading.Event()

    def slow(event, context):  # still working when crhelper's timer answers, 0.5 s before the timeout
        assert timer_answered.wait(10)
        return "orders"

    helper = make_helper(sent, slow)
    helper.sender = lambda url, body: (sent.append(body), timer_answered.set())
    update(helper, seconds=0.6)
    assert [b["Status"] for b in sent] == ["FAILED"]
    assert sent[0]["PhysicalResourceId"] == "orders" and sent[0]["Reason"] == provider.OUT_OF_TIME
    sent.clear()
    update(helper)  # the next request is answered afresh
    assert [(b["Status"], b["PhysicalResourceId"]) for b in sent] == [("SUCCESS", "orders")]


def test_an_oversized_answer_becomes_a_small_failure():
    sent: list[dict] = []
    helper = make_helper(sent, lambda event, context: helper.Data.update(Blob="x" * 5000) or "orders")
    update(helper)
    assert sent[0]["Status"] == "FAILED" and sent[0]["Data"] == {}
    assert "4 KB" in sent[0]["Reason"]


def test_a_long_reason_keeps_its_head():
    reason = "containerPort: must be a whole number " + "x" * 3000
    fitted = answer.fit_reason(reason)
    assert len(fitted) <= answer.MAX_REASON and fitted.startswith("containerPort: must be")
