"""`portico`: onboard, inspect and reconcile services; run the embedded local AWS.

Settings come from the environment (names in `portico.settings`); `.portico/local.env` in the current
folder is loaded when present, without overriding variables already exported.
"""

from __future__ import annotations

import os
import sys

import typer

from .commands import local, product, routes

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
app.add_typer(routes.app)
app.add_typer(product.app)
app.add_typer(local.app, name="local")


def main() -> None:
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "portico")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the CLI prints its own summary
    try:
        app()
    except BrokenPipeError:
        sys.exit(0)


