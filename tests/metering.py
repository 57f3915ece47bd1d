"""Count AWS API calls made through botocore clients: the figures in tests, `make bench` and the README.

Counts operations (botocore's `before-call`, once per call however many retries it takes), split into
reads and writes by the operation's verb.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

READ_VERBS = ("Describe", "Get", "List", "Scan", "Query", "BatchGet")


def is_read(operation: str) -> bool:
    return operation.startswith(READ_VERBS)


class CallMeter:
    def __init__(self, clients: Iterable[Any] = ()):
        self.calls: Counter[tuple[str, str]] = Counter()
        for client in clients:
            self.attach(client)

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-call.{client.meta.service_model.service_id.hyphenize()}",
                                    lambda model, **_: self.calls.update([(service, model.name)]))

    def reset(self) -> None:
        self.calls.clear()

    def writes(self, *, dynamodb: bool = False) -> Counter[tuple[str, str]]:
        return Counter({k: n for k, n in self.calls.items()
                        if not is_read(k[1]) and (k[0] == "dynamodb") == dynamodb})

    def reads(self) -> Counter[tuple[str, str]]:
        return Counter({k: n for k, n in self.calls.items() if is_read(k[1])})

    def count(self, service: str | None = None, operation: str | None = None) -> int:
        return sum(n for (s, o), n in self.calls.items()
                   if (service is None or s == service) and (operation is None or o == operation))
