"""The emulator patch: what moto lacks or accepts that AWS refuses, added to it faithfully, one module per service.

`install()` registers every module's patch on moto's in-process server classes (the test session's
ThreadedMotoServer); `python -m portico_cli.local_aws.emulator -H 127.0.0.1 -p PORT` runs moto's server with
them (`portico local up`). Never imported by the Lambda handlers. Adding a patch is adding a module with an
`install()` and one line in PATCHES.
"""

from __future__ import annotations

import importlib
import sys

PATCHES = (
    "apigateway",
    "apigateway_import",
    "dataplane",
    "cloudwatch",
    "awslambda",
    "cloudformation",
    "vpclink",
    "apigateway_cache",
)
_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    for name in PATCHES:
        importlib.import_module(f"{__name__}.{name}").install()
    _installed = True


def main(argv: list[str] | None = None) -> None:
    install()
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])
