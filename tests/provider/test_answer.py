"""The answer itself: bounded delivery, exactly once, at most 4 KB. No AWS needed."""

from __future__ import annotations

import socket

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


def make_helper(sent: list) -> provider.Provider:
    helper = provider.Provider(json_logging=False, log_level="INFO", sleep_on_delete=0, polling_interval=1)
    helper.sender = lambda url, body: sent.append(body)
    helper._event = {"RequestId": "r1", "PhysicalResourceId": "orders"}
    helper._response_url = "http://127.0.0.1:9/x"
    helper.StackId, helper.RequestId, helper.LogicalResourceId = "arn:stack", "r1", "Route"
    return helper


def test_only_the_first_answer_is_sent():
    sent: list[dict] = []
    helper = make_helper(sent)
    helper._send("FAILED", "timed out")
    helper._send()
    assert [b["Status"] for b in sent] == ["FAILED"]
    assert sent[0]["PhysicalResourceId"] == "orders" and sent[0]["Reason"] == "timed out"


def test_an_oversized_answer_becomes_a_small_failure():
    sent: list[dict] = []
    helper = make_helper(sent)
    helper.Status, helper.Data = "SUCCESS", {"Blob": "x" * 5000}
    helper._send()
    assert sent[0]["Status"] == "FAILED" and sent[0]["Data"] == {}
    assert "4 KB" in sent[0]["Reason"]


def test_a_long_reason_keeps_its_head():
    reason = "containerPort: must be a whole number " + "x" * 3000
    fitted = answer.fit_reason(reason)
    assert len(fitted) <= answer.MAX_REASON and fitted.startswith("containerPort: must be")
