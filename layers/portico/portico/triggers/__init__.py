"""Thin adapters over `reconcile`: one module per trigger. Clients are built once per container.

Importing this package imports nothing else of portico: an adapter (the custom resource provider) can
load its framework first and still answer when the rest of portico fails to import.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..reconcile import Reconciler


@lru_cache(maxsize=1)
def default_reconciler() -> Reconciler:
    from ..clients import Clients
    from ..reconcile import Reconciler
    from ..settings import Settings

    settings = Settings.from_env()
    return Reconciler(Clients.create(settings), settings)


MARGIN_SECONDS = 60  # of a Lambda's time, kept to write the statuses and let go of the claims


def deadline(reconciler: Reconciler, context: Any) -> float | None:
    """When this invocation's pass must stop taking new work (on the reconciler's clock): Lambda's remaining time
    less MARGIN_SECONDS, as a pass cut by the timeout would hold its services until their claims run out.
    get_remaining_time_in_millis: "the number of milliseconds left before the execution times out"
    (https://docs.aws.amazon.com/lambda/latest/dg/python-context.html)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return reconciler.clock() + remaining() / 1000 - MARGIN_SECONDS if remaining else None
