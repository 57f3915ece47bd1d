"""The emulator patch: what moto lacks or accepts that AWS refuses, added to it faithfully, one module per service.

`install()` registers every module's patch on moto's in-process server classes (the test session's
ThreadedMotoServer); `python -m portico_cli.local_aws.emulator -H 127.0.0.1 -p PORT` runs moto's server with
them (`portico local up`). Never imported by the Lambda handlers. Adding a patch is adding a module with an
`install()` and one line in PATCHES.

Quotas AWS enforces are enforced here with AWS's value by default; each can be lowered (or raised, where AWS
lets an account raise it) with an environment variable, read on every call, so a test can make a rule bite
in a few calls instead of hundreds:

| variable | AWS's value | rule |
|---|---|---|
| `PORTICO_EMULATOR_LISTENERS_PER_LOAD_BALANCER` | 50 | ELBv2 `TooManyListeners` |
| `PORTICO_EMULATOR_RULES_PER_LOAD_BALANCER` | 100 | ELBv2 `TooManyRules` (non-default rules per ALB) |
| `PORTICO_EMULATOR_TARGET_GROUPS_PER_SERVICE` | 5 | ECS `InvalidParameterException` |
| `PORTICO_EMULATOR_RESOURCES_PER_API` | 300 | API Gateway `LimitExceededException` |
| `PORTICO_EMULATOR_STAGE_PATCH_OPERATIONS` | 80 | API Gateway "Update size too large" |
| `PORTICO_EMULATOR_DEPLOY_INTERVAL_SECONDS` | 5 | API Gateway `TooManyRequestsException` |
"""

from __future__ import annotations

import importlib
import os
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
    "ecs",
    "elbv2",
    "dynamodb",
)
_installed = False


def limit(name: str, aws_value: float) -> float:
    """The quota `name` (an environment variable above), or AWS's value when it is unset."""
    return float(os.environ.get(name) or aws_value)


def wrap(owner: type, name: str, make) -> None:
    """Replace `owner.name` by `make(original)`, once, however often install() runs."""
    original = getattr(owner, name, None)
    if not getattr(original, "portico", False):
        patched = make(original)
        patched.portico = True
        setattr(owner, name, patched)


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
