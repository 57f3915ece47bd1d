"""The CLI's composition root: settings, clients and the reconciler are built here and nowhere else.

Settings come from the environment (names in `portico.settings`); `.portico/local.env` in the current
folder is loaded when present, without overriding variables already exported.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from dotenv import load_dotenv
from rich.console import Console
from rich.markup import escape

from portico.clients import Clients
from portico.reconcile import Reconciler
from portico.settings import Settings

LOCAL_DIR = Path(".portico")
LOCAL_ENV = LOCAL_DIR / "local.env"
LOCAL_PID = LOCAL_DIR / "moto.pid"

out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def settings() -> Settings:
    if LOCAL_ENV.exists():
        load_dotenv(LOCAL_ENV, override=False)
    return Settings.from_env()


def reconciler() -> Reconciler:
    s = settings()
    try:
        return Reconciler(Clients.create(s), s)
    except ValueError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
