"""Schedule → full reconcile: repairs drift and removes what portico created for entries that are gone."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from ..reconcile import ALL
from . import default_reconciler

logger = Logger(service="portico", child=False)


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    outcome = default_reconciler().run(ALL)
    summary = outcome.summary()
    logger.info("sweep", extra=summary)
    return summary
