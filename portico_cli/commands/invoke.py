"""`portico invoke`: run a function's handler in-process on an event, as the tests do and Lambda would.

`sam local invoke` runs the same handler in a container (it needs Docker, Finch or Podman); this needs
none: the handler is imported by file from the function's CodeUri and Handler, and called with the event
and a Lambda-like context, against the AWS the settings point at (the local AWS after `portico local up`).
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..context import out, settings
from ..errors import refused
from ..local_aws import functions
from ..local_aws.streampoll import fake_context
from ..output import Json, emit

app = typer.Typer()


@app.command()
def invoke(function: Annotated[str, typer.Argument(
               metavar="FUNCTION", help="Logical id in template.yaml (RegistryStreamFunction, SweeperFunction, "
                                        "ServiceRouteProviderFunction) or folder under functions/ (stream, ...).")],
           event: Annotated[Path, typer.Option("-e", "--event", metavar="FILE",
                                               help="Event JSON, e.g. events/stream-insert.json; - reads stdin.")],
           as_json: Json = False) -> None:
    """Run FUNCTION's handler in-process on an event and print what it returns (its logs go to stderr).

    The in-process equivalent of `sam local invoke FUNCTION -e FILE`, without a container runtime.
    """
    try:
        fn = functions.find(function)
    except KeyError:
        names = ", ".join(f"{f.logical_id} ({f.name})" for f in functions.functions().values())
        raise refused(f"FUNCTION: {function!r} is not a function of template.yaml", f"choose one of {names}") from None
    try:
        payload = json.loads(sys.stdin.read() if str(event) == "-" else event.read_text())
    except (OSError, ValueError) as exc:
        raise refused(f"--event: cannot read an event from {event}: {exc}",
                      "give a JSON file, e.g. one of events/") from None
    settings()  # configured; .portico/local.env loaded into the environment the handler reads
    with contextlib.redirect_stdout(sys.stderr):  # Powertools logs to stdout; the result goes there alone
        response = functions.load_handler(fn.logical_id)(payload, fake_context(fn.logical_id))
    emit(response, lambda: out.print_json(data=response, default=str))
