"""DynamoDB's isolation, which moto's threaded server lacks and portico's claims and reservations rely on.

AWS: a conditional write is atomic (the condition is checked and the write made as one operation), and a
TransactWriteItems is all-or-nothing and serializable against every other write and single-item read
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-isolation).
moto checks a condition and then writes with nothing held between, and a failed transaction puts back a
deep copy of the tables taken before it began, erasing whatever another request wrote meanwhile. Under the
threaded server two reconcilers could both win one port, or a ledger entry written beside a lost claim
could vanish and leave its listener an orphan. Here every DynamoDB request runs under one lock: requests
are serialized, which is stronger than AWS (it serializes only what conflicts) and never weaker.
"""

from __future__ import annotations

import threading

from . import wrap

LOCK = threading.RLock()


def _serialized(call_action):
    def wrapper(self):
        with LOCK:
            return call_action(self)

    return wrapper


def install() -> None:
    from moto.dynamodb.responses import DynamoHandler

    wrap(DynamoHandler, "call_action", _serialized)
