"""portico: onboard, inspect and reconcile services; run the embedded local AWS.

Settings come from the environment (PORTICO_* variables, AWS_REGION, AWS_ENDPOINT_URL); .portico/local.env
in the current folder is loaded when present, without overriding exported variables.

Exit codes: 0 ok, 1 the operation failed, 2 usage error, 3 not configured, 4 refused (docs/cli.md).
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import version
from typing import Annotated

import typer
from typer.core import TyperGroup

from . import output
from .commands import invoke, local, product, routes
from .context import current_settings
from .errors import explain


class Portico(TyperGroup):
    """Every command's failures end here: one line with cause and fix, the documented exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # exit codes and usage errors (2) as they are
            raise
        except BrokenPipeError:  # the reader of stdout went away (`portico ls --json | head -1`): not an error
            _quiet_stdout()
            raise typer.Exit(0) from None
        except Exception as exc:
            raise typer.Exit(output.report(explain(exc, current_settings()))) from exc


# rich_markup_mode=None: help text is printed as written (the rules contain brackets rich would eat).
app = typer.Typer(cls=Portico, no_args_is_help=True, add_completion=False, help=__doc__, rich_markup_mode=None,
                  pretty_exceptions_enable=False)
app.add_typer(routes.app)
app.add_typer(product.app)
app.add_typer(invoke.app)
app.add_typer(local.app, name="local")


def _version(value: bool) -> None:
    if value:
        print(f"portico {version('portico')}")
        raise typer.Exit()


@app.callback()
def root(
    debug: Annotated[bool, typer.Option("--debug", envvar="PORTICO_DEBUG",
                                        help="On an error, print the traceback too.")] = False,
    _: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                    help="Print portico's version and exit.")] = False,
) -> None:
    output.Mode.debug = debug


def main() -> None:
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "portico")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the CLI prints its own summary
    try:
        app()
    except BrokenPipeError:  # `portico ls | head`
        _quiet_stdout()
        sys.exit(0)


def _quiet_stdout() -> None:
    """What is still buffered for a closed pipe goes nowhere, so the exit prints no second error."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
