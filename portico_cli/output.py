"""What the CLI prints: results for people (rich) or one JSON document for scripts (`--json`), errors as one
line on stderr, and progress bars only where a person watches (stderr is a terminal).

stdout carries the result only, so `portico ... --json | jq` always parses: progress, warnings and errors
go to stderr. Shapes and exit codes: docs/cli.md.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .errors import CliError

out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


class Mode:
    """Set while the command line is parsed (the --json and --debug callbacks), read when printing."""

    json = False
    debug = False


def _json_flag(value: bool) -> bool:
    Mode.json = value
    return value


Json = Annotated[bool, typer.Option("--json", is_eager=True, callback=_json_flag,
                                    help="Print one JSON document on stdout instead of text (shapes: docs/cli.md).")]


def emit(data: Any, human: Callable[[], None]) -> None:
    """The command's result: `data` as JSON with --json, else `human()` prints it for people."""
    if Mode.json:
        print(json.dumps(data, indent=2, default=str), flush=True)
    else:
        human()


def warn(message: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(message)}", soft_wrap=True, highlight=False)


def report(error: CliError) -> int:
    """Print `error` (traceback first with --debug) and return its exit code."""
    if Mode.debug:
        err.print_exception()
    line = " ".join(error.message.split()) + (f" — {error.fix}" if error.fix else "")  # one line, whatever AWS said
    err.print(f"[red]error:[/] {escape(line)}", soft_wrap=True, highlight=False)
    if Mode.json:
        print(json.dumps({"error": {"exitCode": int(error.code), "kind": error.code.kind, "message": error.message,
                                    "fix": error.fix}}, indent=2), flush=True)
    return int(error.code)


@contextmanager
def progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr while the block runs, fed by the callback it yields (`done`, `total`): a
    spinner until the first call, then a bar. Nothing at all when stderr is not a terminal."""
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal)
    task = bar.add_task(description, total=None)

    def advance(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    with bar:
        yield advance
