"""Thin adapters over `reconcile`: one module per trigger. Clients are built once per container."""

from __future__ import annotations

from functools import lru_cache

from ..clients import Clients
from ..reconcile import Reconciler
from ..settings import Settings


@lru_cache(maxsize=1)
def default_reconciler() -> Reconciler:
    settings = Settings.from_env()
    return Reconciler(Clients.create(settings), settings)
