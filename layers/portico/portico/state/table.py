"""The DynamoDB calls of portico's state table, items keyed by `pk`, with the pass's clock and sleep: what
`reservations`, `claims`, `leases` and StateTable (this package) write and read through. It knows no key prefix."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from ..errors import CONDITION_FAILED, error_code
from .records import batch_get, from_item, to_item

# BatchWriteItem takes "up to 25 item put or delete operations" a call and returns what throttling left in
# UnprocessedItems, to be sent again with an exponential backoff:
# https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html
BATCH_WRITE = 25
WRITERS = 8  # BatchWriteItem calls side by side: on-demand tables have no request rate to pace


class Table:
    def __init__(self, dynamodb, name: str, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Any] = time.sleep):
        self.ddb, self.name, self.clock, self.sleep = dynamodb, name, clock, sleep

    # -- one item (unconditional; consistent reads) -------------------------------------------------
    def get(self, pk: str) -> dict[str, Any] | None:
        got = self.ddb.get_item(TableName=self.name, Key=to_item({"pk": pk}), ConsistentRead=True).get("Item")
        return from_item(got) if got else None

    def put(self, pk: str, **attributes: Any) -> None:
        self.ddb.put_item(TableName=self.name, Item=to_item({"pk": pk, **attributes}))

    def delete(self, pk: str) -> None:
        self.ddb.delete_item(TableName=self.name, Key=to_item({"pk": pk}))

    def write_if(self, write: Callable[..., Any], **request: Any) -> bool:
        """One conditional write (put_item, update_item or delete_item); False when its condition did not hold."""
        try:
            write(TableName=self.name, **request)
            return True
        except ClientError as e:
            if error_code(e) != CONDITION_FAILED:
                raise
            return False

    # -- many items ------------------------------------------------------------------------------
    def get_many(self, pks: list[str]) -> list[dict[str, Any]]:
        """Consistent reads of any number of items, 100 per BatchGetItem, unprocessed keys retried."""
        return batch_get(self.ddb, self.name, [{"pk": {"S": pk}} for pk in dict.fromkeys(pks)], sleep=self.sleep)

    def put_many(self, items: list[dict[str, Any]]) -> None:
        """Unconditional puts of distinct keys, 25 per BatchWriteItem, WRITERS of them side by side (distinct keys:
        their order does not matter; 1,000 task definitions are 40 calls), unprocessed items retried."""
        if len(items) == 1:
            self.put(**items[0])
            return
        chunks = [items[i:i + BATCH_WRITE] for i in range(0, len(items), BATCH_WRITE)]
        with ThreadPoolExecutor(min(WRITERS, len(chunks)) or 1, thread_name_prefix="portico-put") as pool:
            list(pool.map(self._put_batch, chunks))

    def _put_batch(self, items: list[dict[str, Any]]) -> None:
        todo = {self.name: [{"PutRequest": {"Item": to_item(d)}} for d in items]}
        for attempt in range(8):
            todo = self.ddb.batch_write_item(RequestItems=todo).get("UnprocessedItems") or {}
            if not todo:
                return
            self.sleep(min(0.05 * 2 ** attempt, 1.0))  # throttled items come back unprocessed
        raise RuntimeError(f"DynamoDB left {len(todo[self.name])} items of {self.name} unwritten")
