"""The emulator patch: what moto lacks or accepts that AWS refuses, added to it faithfully, one module per service.

`install()` registers every module's patch on moto's in-process server classes (the test session's
ThreadedMotoServer); `python -m portico_cli.local_aws.emulator -H 127.0.0.1 -p PORT` runs moto's server with
them (`portico local up`). Never imported by the Lambda handlers. Adding a patch is adding a module with an
`install()` and its name in `PATCHES`.

Every patch goes through `wrap`, `replace`, `add` or `route`, which check at start that moto still has the
target (moto is pinned to the locked version, and its internals move between releases): a missing one stops
the emulator with one line naming it and the moto version, never a silent no-op.

Quotas AWS enforces are enforced here with AWS's value by default; each can be lowered (or raised, where AWS
lets an account raise it) with an environment variable, read on every call, so a test can make a rule bite
in a few calls instead of hundreds:

| variable | AWS's value | rule |
|---|---|---|
| `PORTICO_EMULATOR_LISTENERS_PER_LOAD_BALANCER` | 50 | ELBv2 `TooManyListeners` |
| `PORTICO_EMULATOR_RULES_PER_LOAD_BALANCER` | 100 | ELBv2 `TooManyRules` (non-default rules per ALB) |
| `PORTICO_EMULATOR_NETWORK_LOAD_BALANCERS` | 50 | ELBv2 `TooManyLoadBalancers` (NLBs per Region) |
| `PORTICO_EMULATOR_APPLICATION_LOAD_BALANCERS` | 50 | ELBv2 `TooManyLoadBalancers` (ALBs per Region) |
| `PORTICO_EMULATOR_TARGET_GROUPS` | 3,000 | ELBv2 `TooManyTargetGroups` (per Region) |
| `PORTICO_EMULATOR_TARGET_GROUPS_PER_SERVICE` | 5 | ECS `InvalidParameterException` |
| `PORTICO_EMULATOR_RESOURCES_PER_API` | 300 | API Gateway `LimitExceededException` |
| `PORTICO_EMULATOR_STAGE_PATCH_OPERATIONS` | 80 | API Gateway "Update size too large" |
| `PORTICO_EMULATOR_DEPLOY_INTERVAL_SECONDS` | 5 | API Gateway `TooManyRequestsException` |
| `PORTICO_EMULATOR_ROUTING_RULES_PER_DOMAIN` | 50 | API Gateway `LimitExceededException` (routing rules) |
| `PORTICO_EMULATOR_METRICS_INSIGHTS_ALARMS` | 200 | CloudWatch `LimitExceeded` (Metrics Insights alarms per Region) |

An AWS model (call latency and each API's request rate, refusing with the service's throttling error) is off
unless `PORTICO_EMULATOR_AWS_MODEL=1`: aws_model.py.
"""

from __future__ import annotations

import importlib
import os
import sys

_installed = False


def limit(name: str, aws_value: float) -> float:
    """The quota `name` (an environment variable above), or AWS's value when it is unset."""
    return float(os.environ.get(name) or aws_value)


class MotoMismatch(RuntimeError):
    """moto no longer has what a patch targets: the emulator would silently emulate less than it says."""


def _moto() -> str:
    """The installed moto, and the one the project is locked to (pyproject's `local` extra pins it)."""
    from importlib.metadata import requires, version

    pinned = next((r.split(";")[0].replace("[server]", "") for r in requires("portico") or [] if r.startswith("moto")),
                  "moto (unpinned)")
    return f"moto {version('moto')} (portico's emulator is written for {pinned})"


def require(owner, name: str):
    """`owner.name`, which a patch replaces or reads; its absence stops the emulator, naming it."""
    if not hasattr(owner, name):
        where = getattr(owner, "__qualname__", getattr(owner, "__name__", repr(owner)))
        raise MotoMismatch(f"{_moto()} has no {owner.__module__}.{where}.{name}" if isinstance(owner, type)
                           else f"{_moto()} has no {where}.{name}")
    return getattr(owner, name)


_applied: set[tuple[object, str, object]] = set()


def wrap(owner, name: str, make) -> None:
    """Replace `owner.name` (which must exist) by `make(original)`, once, however often install() runs."""
    if (owner, name, make) not in _applied:
        patched = make(require(owner, name))
        setattr(owner, name, patched)
        _applied.add((owner, name, make))


def replace(owner, name: str, value) -> None:
    """Replace `owner.name`, which must exist: a patch of something moto dropped would be dead code."""
    require(owner, name)
    setattr(owner, name, value)


def add(owner, name: str, value) -> None:
    """Give `owner` an attribute moto's model lacks (a physical id, a delete); one moto grew is a mismatch."""
    if (owner, name, None) in _applied:
        return
    if name in vars(owner):
        raise MotoMismatch(f"{_moto()} now defines {owner.__module__}.{owner.__qualname__}.{name}, which the "
                           "emulator adds: check that the emulator's version still applies")
    setattr(owner, name, value)
    _applied.add((owner, name, None))


def route(url_paths: dict, pattern: str, handler, *, new: bool = False) -> None:
    """Point a moto URL route at `handler`; replacing a route moto no longer has is a mismatch."""
    if not new and pattern not in url_paths:
        raise MotoMismatch(f"{_moto()} has no URL route {pattern!r}")
    url_paths[pattern] = handler


PATCHES = (  # every patch module of this package, in the order they install
    "apigateway", "apigateway_import", "dataplane", "cloudwatch", "awslambda", "apigateway_domains",
    "apigateway_domains_cfn",  # before cloudformation: it adds resource types to cloudformation's HANDLERS
    "cloudformation", "vpclink", "apigateway_cache", "ecs", "elbv2", "elbv2_pool", "elbv2_health", "dynamodb",
    "dynamodb_speed", "snapshot", "dispatch",
    "aws_model",  # last: it wraps the dispatch every patched operation is reached through
)


def patches() -> tuple:
    """Every patch module, in the order they install (imported here, not at the top: each imports this module's
    helpers)."""
    return tuple(importlib.import_module(f"{__name__}.{name}") for name in PATCHES)


def install() -> None:
    """Apply every patch; a target moto lacks (attribute, import or route) raises MotoMismatch, naming it."""
    global _installed
    if _installed:
        return
    for module in patches():
        try:
            module.install()
        except (ImportError, AttributeError, KeyError, ValueError) as error:
            name = module.__name__.rsplit(".", 1)[-1]
            raise MotoMismatch(f"{_moto()}: the {name} patch cannot apply: {error}") from error
    _installed = True


def main(argv: list[str] | None = None) -> None:
    try:
        install()
    except MotoMismatch as error:
        sys.exit(f"portico emulator: {error}")
    from moto.server import main as moto_main

    moto_main(argv if argv is not None else sys.argv[1:])
