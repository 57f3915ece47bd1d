"""Registry stream → reconcile. Level-triggered: a record only says "look at service K".

Keys are deduplicated across the batch and re-read with consistent reads; records whose only change is
portico's own status are skipped (no reconcile loop). An invalid spec becomes a FAILED status, never a
batch failure; only transient errors (throttling past retries, 5xx, timeouts) fail their records, so
Lambda redelivers them.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from ..reconcile import Reconciler
from ..spec import spec_view
from . import deadline, default_reconciler

logger = Logger(service="portico", child=False)
# Every record failing (a whole pass hit a transient error) is reported as batchItemFailures too, not raised:
# Lambda then redelivers from the first record, and the local StreamPoller keeps polling.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


class RetryLater(Exception):
    """Raised for a record whose service hit a transient error: Lambda delivers it again."""


def service_key(record: dict[str, Any]) -> str | None:
    return ((record.get("dynamodb") or {}).get("Keys") or {}).get("service", {}).get("S")


def needs_reconcile(record: DynamoDBRecord) -> bool:
    """Skip portico's own status writes. A user's put of the same spec replaces the item (no status, or the
    PENDING that `portico onboard` writes, and no `reconciledAt`): that one is reconciled, or the entry would
    be left without a status."""
    if record.event_name is None or record.event_name.name != "MODIFY":
        return True
    new = record.dynamodb.new_image
    user_put = "status" not in new or ("reconciledAt" not in new and new.get("status") == "PENDING")
    return user_put or spec_view(record.dynamodb.old_image) != spec_view(new)


def handle(event: dict[str, Any], context: Any, reconciler: Reconciler) -> dict[str, Any]:
    records = [DynamoDBRecord(r) for r in event.get("Records", [])]
    keys = list(dict.fromkeys(k for r in records if needs_reconcile(r) and (k := service_key(r.raw_event))))
    retry: dict[str, str] = {}
    if keys:
        try:
            outcome = reconciler.run(keys, deadline=deadline(reconciler, context))
            retry = outcome.retry
            logger.info("reconciled", extra={"services": keys, **outcome.summary()})
        except Exception as exc:  # the whole pass failed (e.g. a table unreachable): retry every record
            logger.exception("reconcile failed")
            retry = {k: f"{type(exc).__name__}: {exc}" for k in keys}

    def record_handler(record: DynamoDBRecord) -> None:
        key = service_key(record.raw_event)
        if key in retry:
            raise RetryLater(f"{key}: {retry[key]}")

    return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                    context=context)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context, default_reconciler())
