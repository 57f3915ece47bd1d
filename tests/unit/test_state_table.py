"""The state table's batches back off through the injected sleep (a throttled batch comes back unprocessed), never
time.sleep: a pass's waits stay the pass's to count and to cut short."""

from __future__ import annotations

import pytest

from portico.state import StateTable


class Throttled:
    """A DynamoDB client whose first batch call leaves everything unprocessed (one branch: the retry)."""

    def __init__(self):
        self.calls = 0

    def batch_write_item(self, RequestItems):
        self.calls += 1
        return {"UnprocessedItems": RequestItems if self.calls == 1 else {}}

    def batch_get_item(self, RequestItems):
        self.calls += 1
        if self.calls == 1:
            return {"Responses": {}, "UnprocessedKeys": RequestItems}
        keys = next(iter(RequestItems.values()))["Keys"]
        return {"Responses": {"state": keys}}


@pytest.fixture
def forbid_time_sleep(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: pytest.fail(f"time.sleep({s}) instead of the injected sleep"))


def test_unprocessed_puts_wait_on_the_injected_sleep(forbid_time_sleep):
    waits: list[float] = []
    table = StateTable(Throttled(), "state", sleep=waits.append)
    table.put_many([{"pk": f"td#{i}", "expiresAt": 1} for i in range(3)])
    assert waits == [0.05] and table.ddb.calls == 2


def test_unprocessed_keys_wait_on_the_injected_sleep(forbid_time_sleep):
    waits: list[float] = []
    table = StateTable(Throttled(), "state", sleep=waits.append)
    assert [d["pk"] for d in table.get_many(["svc#a", "svc#b"])] == ["svc#a", "svc#b"]
    assert waits == [0.05] and table.ddb.calls == 2
