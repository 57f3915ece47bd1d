"""Schedule → a sweep (one shard of the services per run, in turn): repairs drift and removes what portico
created for entries that are gone. An ECS service event (EventBridge, from CloudTrail: UpdateService,
DeleteService by anyone but portico) → reconcile the entries routed to that ECS service at once. After a sweep, the
p99 latency alarms of its shard's READY services that lack theirs, ≤ 30, 3 a second (kinds.alarms)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import error_text
from ..kinds.alarms import write_latency_alarms
from . import deadline, default_reconciler

logger = Logger(service="portico", child=False)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    reconciler = default_reconciler()
    until = deadline(reconciler, context)
    if event.get("source") == "aws.ecs":  # an ECS service changed outside portico: reconcile its entries now
        params = (event.get("detail") or {}).get("requestParameters") or {}
        keys = reconciler.services_on_ecs(str(params.get("cluster") or "default"), str(params.get("service") or ""))
        summary = reconciler.run(keys, deadline=until).summary() if keys else {"steps": 0, "statuses": {}}
        logger.info("ecs change", extra={"ecs": params.get("service"), "services": keys, **summary})
        return summary
    outcome = reconciler.sweep(until)
    summary = outcome.summary()
    if until is None or reconciler.clock() < until:  # the p99 alarms, off the routing pass (kinds.alarms)
        ready = {s for s, st in outcome.statuses.items() if st.status == "READY"}
        try:
            summary["latencyAlarms"] = len(write_latency_alarms(outcome.plan, ready, reconciler.clients,
                                                                reconciler.settings, sleep=reconciler.sleep))
        except (ClientError, BotoCoreError) as exc:  # the sweep is done; the next one of this shard retries
            summary["errors"] = [*summary["errors"], f"p99 latency alarms: {error_text(exc)}"]
    logger.info("sweep", extra=summary)
    return summary
