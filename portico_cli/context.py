"""The CLI's composition root: settings, clients and the reconciler are built here and nowhere else.

Settings come from the environment (names in `portico.settings`); `.portico/local.env` in the current
folder is loaded when present, without overriding variables already exported. They are checked before
any client is built, so a folder without settings says "not configured" and how to configure it.
"""

from __future__ import annotations

import socket
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from dotenv import load_dotenv

from portico.clients import Clients
from portico.reconcile import Reconciler
from portico.settings import Settings

from .errors import CONFIGURE, CliError, Code
from .output import err, out  # noqa: F401 - the consoles, for the command modules

LOCAL_DIR = Path(".portico")
LOCAL_ENV = LOCAL_DIR / "local.env"
LOCAL_PID = LOCAL_DIR / "moto.pid"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@cache
def settings() -> Settings:
    if LOCAL_ENV.exists():
        load_dotenv(LOCAL_ENV, override=False)
    try:
        s = Settings.from_env().check()
    except ValueError as exc:
        raise CliError(Code.NOT_CONFIGURED, f"{exc} (no {LOCAL_ENV} in {Path.cwd()})", CONFIGURE) from None
    if not boto3.Session(region_name=s.region).region_name:
        raise CliError(Code.NOT_CONFIGURED, "no AWS region is set", f"export AWS_REGION, or {CONFIGURE}")
    if s.endpoint_url and urlsplit(s.endpoint_url).hostname in LOOPBACK:
        _check_local(s.endpoint_url)
    return s


def _check_local(url: str) -> None:
    """A local AWS that is not running is a set-up problem, found in milliseconds, not after botocore's
    connection retries."""
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 80), timeout=1).close()
    except OSError:
        raise CliError(Code.NOT_CONFIGURED, f"the local AWS at {url} is not running",
                       "start it with `portico local up` (or unset AWS_ENDPOINT_URL to use AWS)") from None


def current_settings() -> Settings | None:
    """The settings in use if they were read (for error messages), without reading them."""
    return settings() if settings.cache_info().currsize else None


def clients() -> Clients:
    return Clients.create(settings())


def reconciler(**kwargs) -> Reconciler:
    return Reconciler(clients(), settings(), **kwargs)
