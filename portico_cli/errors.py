"""Exit codes, and every failure turned into one sentence with its cause and its fix.

Commands raise `CliError` for what they check themselves; anything else (botocore, a layer error) is
translated by `explain` in one place, so each command stays a few lines of happy path.
"""

from __future__ import annotations

from enum import IntEnum

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)

from portico.errors import ProductError, error_code, error_message
from portico.spec import SpecError


class Code(IntEnum):
    """portico's exit codes (docs/cli.md). A script can tell them apart; each has its own remedy."""

    OK = 0
    FAILED = 1  # the operation ran and did not succeed (AWS error, FAILED entries, broken links): look, retry
    USAGE = 2  # the command line is wrong (unknown option, missing argument, wrong type): fix the command
    NOT_CONFIGURED = 3  # no settings, no region or credentials, a table or API that is not there: set up first
    REFUSED = 4  # portico checked the request against its rules and refused it; nothing was changed

    @property
    def kind(self) -> str:
        return self.name.lower().replace("_", "-")


CONFIGURE = ("run `portico local up` in this folder for the local AWS, or export the stack's settings "
             "(docs/deploy.md, \"Onboard the first service\")")
DEBUG = "run again with `portico --debug ...` for the traceback"


class CliError(Exception):
    def __init__(self, code: Code, message: str, fix: str = ""):
        super().__init__(message)
        self.code, self.message, self.fix = code, message, fix


def refused(message: str, fix: str = "") -> CliError:
    return CliError(Code.REFUSED, message, fix)


def explain(exc: BaseException, settings=None) -> CliError:
    """The one-line cause and fix of any exception a command lets through. `settings`: the settings in use,
    when they were read (they name the table, API or endpoint that is wrong)."""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, SpecError | ProductError):
        return refused(str(exc), "correct the value named above and run the command again")
    if isinstance(exc, NoRegionError):
        return CliError(Code.NOT_CONFIGURED, "no AWS region is set", f"export AWS_REGION, or {CONFIGURE}")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | ProfileNotFound):
        return CliError(Code.NOT_CONFIGURED, f"AWS credentials: {exc}",
                        "configure them (`aws configure`, AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                        f"AWS_SECRET_ACCESS_KEY), or {CONFIGURE}")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError):
        return CliError(Code.FAILED, f"cannot reach AWS: {exc}",
                        "check the network, AWS_REGION and AWS_ENDPOINT_URL, then run the command again")
    if isinstance(exc, ClientError):
        return _client_error(exc, settings)
    if isinstance(exc, BotoCoreError):
        return CliError(Code.FAILED, f"AWS: {exc}", DEBUG)
    return CliError(Code.FAILED, f"unexpected {type(exc).__name__}: {exc}", f"{DEBUG}, and report it")


def _client_error(exc: ClientError, settings) -> CliError:
    code = error_code(exc)
    cause = f"{exc.operation_name}: {code}: {error_message(exc)}".rstrip(": ")
    if code == "ResourceNotFoundException" and settings:  # DynamoDB's code for a table that is not there
        return CliError(Code.NOT_CONFIGURED, cause, f"check PORTICO_REGISTRY_TABLE={settings.registry_table} and "
                                                    f"PORTICO_STATE_TABLE={settings.state_table} against the stack")
    if code == "NotFoundException" and settings and "Invalid API identifier" in cause:
        return CliError(Code.NOT_CONFIGURED, cause, f"check PORTICO_REST_API_ID={settings.rest_api_id} against "
                                                    "the stack's RestApiId output")
    if code in ("LoadBalancerNotFound", "LoadBalancerNotFoundException"):
        return CliError(Code.NOT_CONFIGURED, cause, "check PORTICO_LOAD_BALANCER_ARNS against the stack's outputs")
    if code in ("UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException"):
        return CliError(Code.NOT_CONFIGURED, cause, "refresh the AWS credentials of this shell (or AWS_PROFILE)")
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
        return CliError(Code.FAILED, cause, f"grant {exc.operation_name} to the IAM identity this shell uses")
    return CliError(Code.FAILED, cause, f"throttling and 5xx were already retried; run it again later, or {DEBUG}")
