"""DynamoDB's isolation, which moto's threaded server lacks and portico's claims and reservations rely on.

AWS: a conditional write is atomic (the condition is checked and the write made as one operation), and a
TransactWriteItems is all-or-nothing and serializable against every other write and single-item read
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-isolation).
moto checks a condition and then writes with nothing held between, and a failed transaction puts back a
deep copy of the tables taken before it began, erasing whatever another request wrote meanwhile. Under the
threaded server two reconcilers could both win one port, or a ledger entry written beside a lost claim
could vanish and leave its listener an orphan. Here every DynamoDB request runs under one lock: requests
are serialized, which is stronger than AWS (it serializes only what conflicts) and never weaker.

moto also deep-copies each table once per item of every transaction, before it begins: memory and time that
grow with the table times the transaction (gigabytes for a stack of a few hundred services). A transaction
here keeps instead the items it changes as they were, and a failed one puts back those items only; its
stream records are held until it commits (AWS writes none for a cancelled transaction).

A TransactWriteItems "groups up to 100 action requests"
(https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html); moto 5.2 checks
the 100 too, but answers without the `Value '[...]'` part of AWS's validation message. AWS's pages do not quote
that message: its shape here is the one AWS gives for its other list-length constraints (BatchWriteItem's
`Value '{table=[com.amazonaws.dynamodb.v20120810.WriteRequest@...]}' at 'requestItems'`,
https://github.com/boto/boto3/issues/483), which moto reproduces for TransactGetItems.

moto renders every answer by walking the operation's shape value by value: 3 s for a Scan of 4,000 items on this
machine, all of it under LOCK, so every other DynamoDB call waited too (AWS answers such a page in milliseconds).
A read's result is already DynamoDB's JSON (moto's DynamoResult), so it is written as it stands; a result json
cannot write as it stands (a B attribute's bytes) still goes moto's way.
"""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

from . import wrap

LOCK = threading.RLock()
TRANSACT_WRITE_ITEMS = 100  # AWS's limit (the page above), since 2022; it was 25


def _serialized(call_action):
    def wrapper(self):
        with LOCK:
            return call_action(self)

    return wrapper


READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})  # answers that are items: written as they stand


def _fast(serialized):
    def wrapper(self, action_result):
        from moto.core.responses import ActionResult
        from moto.dynamodb.responses import DynamoResult

        if isinstance(action_result, DynamoResult) and self._get_action() in READS:
            try:
                body = json.dumps(action_result.result)
            except TypeError:  # bytes, which moto's serializer encodes
                return serialized(self, action_result)
            status, headers, _ = serialized(self, ActionResult({}))  # the status and headers of an answer
            return status, headers, body
        return serialized(self, action_result)

    return wrapper


class _Held:
    """A table's stream while a transaction runs: its records, sent on only if the transaction commits."""

    def __init__(self, shard):
        self.shard, self.records = shard, []

    def add(self, old, new) -> None:
        self.records.append((old, new))

    def __getattr__(self, name: str):  # a stream read meanwhile (DynamoDB Streams is not under LOCK) sees the shard
        return getattr(self.shard, name)


class _Journal:
    """What a transaction changed, item by item, to put back if it fails."""

    def __init__(self, backend):
        self.backend, self.before, self.held = backend, [], {}

    def keep(self, table_name: str, key: dict[str, Any]) -> None:
        """Remember the item at `key` as it is, before the transaction writes it (once: keys are unique)."""
        table = self.backend.get_table(table_name)
        hash_key, range_key = self.backend.get_keys_value(table, key)
        self.before.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        if table.stream_shard is not None and table_name not in self.held:
            self.held[table_name] = table.stream_shard = _Held(table.stream_shard)

    def undo(self) -> None:
        for table, hash_key, range_key, item in reversed(self.before):
            if not table.has_range_key:
                if item is None:
                    table.items.pop(hash_key, None)
                else:
                    table.items[hash_key] = item
            elif item is None:
                table.items[hash_key].pop(range_key, None)
            else:
                table.items[hash_key][range_key] = item
        self._release(send=False)

    def commit(self) -> None:
        self._release(send=True)

    def _release(self, send: bool) -> None:
        for name, held in self.held.items():
            self.backend.get_table(name).stream_shard = held.shard
            for old, new in held.records if send else ():
                held.shard.add(old, new)


def _transact_write_items(self, transact_items: list[dict[str, Any]]) -> None:
    """moto's TransactWriteItems (same checks, same cancellation reasons), undone item by item on failure."""
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > TRANSACT_WRITE_ITEMS:
        raise MockValidationException(_too_many(len(transact_items)))
    journal, targets, errors = _Journal(self), set(), []
    try:
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            try:
                _transact_one(self, *next(iter(entry.items())), targets, journal)
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                raise
            except ConditionalCheckFailed as e:
                errors.append(("ConditionalCheckFailed", str(e.message), getattr(e, "old_item", None)))
            except Exception as e:  # moto's choice: any other failure is a cancellation reason of its own
                errors.append((type(e).__name__, str(e), None))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
    except BaseException:
        journal.undo()
        raise
    journal.commit()


def _too_many(count: int) -> str:
    """AWS's ValidationException message for a TransactItems list past its limit (its Java objects' names)."""
    members = ", ".join(f"com.amazonaws.dynamodb.v20120810.TransactWriteItem@{0x10000000 + i:x}" for i in range(count))
    return (f"1 validation error detected: Value '[{members}]' at 'transactItems' failed to satisfy constraint: "
            f"Member must have length less than or equal to {TRANSACT_WRITE_ITEMS}")


def _transact_one(self, op_type: str, op: dict[str, Any], targets: set, journal: _Journal) -> None:
    """One item of a transaction: its condition checked, then applied (kept in `journal` to be undone)."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import ConditionalCheckFailed, MultipleTransactionsException

    if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
        raise ValueError("Unsupported transaction operation")
    table_name = op["TableName"]
    condition = op.get("ConditionExpression")
    names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    if op_type == "Put":
        table = self.get_table(table_name)
        key = {a: op["Item"][a] for a in (table.hash_key_attr, table.range_key_attr) if a is not None}
    else:
        key = op["Key"]
    target = (str(table_name), str(dict(sorted(key.items()))))
    if target in targets:
        raise MultipleTransactionsException()
    targets.add(target)
    current = self.get_item(table_name, key)
    if condition is not None and not get_filter_expression(condition, names, values).expr(current):
        old = current.to_json()["Attributes"] if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" \
            and current else None
        failure = ConditionalCheckFailed(item=old)
        failure.old_item = old  # the cancellation reason's Item
        raise failure
    # Without the condition, which held just above under the same lock: moto's write would check it a third time.
    names_values = dict(expression_attribute_names=names, expression_attribute_values=values)
    if op_type != "ConditionCheck":
        journal.keep(table_name, key)
    if op_type == "Put":
        self.put_item(table_name, op["Item"], **names_values)
    elif op_type == "Delete":
        self.delete_item(table_name, key, **names_values)
    elif op_type == "Update":
        self.update_item(table_name, key, update_expression=op["UpdateExpression"], **names_values)


def install() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    wrap(DynamoHandler, "call_action", _serialized)
    wrap(DynamoHandler, "serialized", _fast)
    wrap(DynamoDBBackend, "transact_write_items", lambda moto_transaction: _transact_write_items)
