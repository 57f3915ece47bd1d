"""Thin adapters over `reconcile`: one module per trigger. Clients are built once per container.

Importing this package imports nothing else of portico: an adapter (the custom resource provider) can
load its framework first and still answer when the rest of portico fails to import.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..reconcile import Reconciler


@lru_cache(maxsize=1)
def default_reconciler() -> Reconciler:
    from ..clients import Clients
    from ..reconcile import Reconciler
    from ..settings import Settings

    settings = Settings.from_env()
    return Reconciler(Clients.create(settings), settings)
