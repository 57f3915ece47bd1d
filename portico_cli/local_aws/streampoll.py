"""Read a DynamoDB stream and call a Lambda handler the way an event source mapping does.

Used where Lambda cannot run (the local stack). Semantics kept from the real mapping: batches of up to
`batch_size` records per shard in order; `batchItemFailures` checkpoints before the lowest failed
sequence number and redelivers from there; after `max_retries` the batch goes to the on-failure
callback and the shard moves on. The checkpoint (last processed sequence number per shard) is kept in
a JSON file so repeated `--once` runs do not replay old records.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """moto returns stream records in the API shape; Lambda delivers epoch seconds and the source ARN."""
    rec = json.loads(json.dumps(record, default=str))
    ddb = rec.get("dynamodb", {})
    created = ddb.get("ApproximateCreationDateTime")
    if isinstance(created, str):
        try:
            ddb["ApproximateCreationDateTime"] = int(datetime.fromisoformat(created).timestamp())
        except ValueError:
            ddb["ApproximateCreationDateTime"] = int(time.time())
    rec["eventSourceARN"] = stream_arn
    return rec


def fake_context(name: str = "portico-local") -> Any:
    return SimpleNamespace(function_name=name, memory_limit_in_mb=512, invoked_function_arn=f"arn:local:{name}",
                           aws_request_id=f"local-{time.time_ns()}", get_remaining_time_in_millis=lambda: 300_000)


class StreamPoller:
    def __init__(self, dynamodb, streams, table: str, handler: Callable[[dict, Any], Any], *,
                 checkpoint: Path | None = None, batch_size: int = 100, max_retries: int = 3,
                 on_failure: Callable[[list[dict]], None] | None = None):
        self.ddb, self.streams, self.table, self.handler = dynamodb, streams, table, handler
        self.checkpoint_file, self.batch_size, self.max_retries = checkpoint, batch_size, max_retries
        self.on_failure = on_failure or (lambda records: None)
        self.positions: dict[str, str] = {}
        if checkpoint and checkpoint.exists():
            self.positions = json.loads(checkpoint.read_text())

    def stream_arn(self) -> str:
        return self.ddb.describe_table(TableName=self.table)["Table"]["LatestStreamArn"]

    def _save(self) -> None:
        if self.checkpoint_file:
            self.checkpoint_file.parent.mkdir(parents=True, exist_ok=True)
            self.checkpoint_file.write_text(json.dumps(self.positions))

    def poll_once(self) -> int:
        """Deliver every record now in the stream; returns how many records were delivered (retries count)."""
        arn = self.stream_arn()
        delivered = 0
        for shard in self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
            records = self._read_shard(arn, shard["ShardId"])
            for i in range(0, len(records), self.batch_size):
                delivered += self._deliver(arn, shard["ShardId"], records[i:i + self.batch_size])
        return delivered

    def _read_shard(self, arn: str, shard: str) -> list[dict]:
        after = self.positions.get(shard)
        kwargs = ({"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after} if after
                  else {"ShardIteratorType": "TRIM_HORIZON"})
        iterator = self.streams.get_shard_iterator(StreamArn=arn, ShardId=shard, **kwargs)["ShardIterator"]
        out: list[dict] = []
        while iterator:
            resp = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            out += resp.get("Records", [])
            if not resp.get("Records"):
                break
            iterator = resp.get("NextShardIterator")
        return out

    def _deliver(self, arn: str, shard: str, batch: list[dict]) -> int:
        delivered = 0
        for _attempt in range(self.max_retries + 1):
            event = {"Records": [lambda_record(r, arn) for r in batch]}
            delivered += len(batch)
            response = self.handler(event, fake_context()) or {}
            failures = [f["itemIdentifier"] for f in response.get("batchItemFailures", [])]
            seqs = [r["dynamodb"]["SequenceNumber"] for r in batch]
            if not failures:
                self.positions[shard] = seqs[-1]
                self._save()
                return delivered
            lowest = min(seqs.index(f) for f in failures if f in seqs)
            if lowest > 0:
                self.positions[shard] = seqs[lowest - 1]
                self._save()
            batch = batch[lowest:]
        self.on_failure(batch)  # retries exhausted: Lambda would send these to the on-failure queue
        self.positions[shard] = batch[-1]["dynamodb"]["SequenceNumber"]
        self._save()
        return delivered
