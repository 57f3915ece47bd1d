"""portico's errors, and the one place an AWS error code is read: every other module asks here."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

# Error codes that mean "a quota is reached": retrying cannot help, raising the quota or freeing room can.
QUOTA_CODES = frozenset({
    "LimitExceededException", "ServiceQuotaExceededException", "TooManyListeners", "TooManyTargetGroups",
    "TooManyLoadBalancers", "TooManyTags", "TooManyTargets", "TooManyRules", "TooManyActions",
    "TooManyCertificates", "ResourceLimitExceeded"})
# A request refused for its API's rate: ELBv2's and CloudWatch's `Throttling`, ECS's `ThrottlingException`, API
# Gateway's `TooManyRequestsException` (the emulator's table, aws_model.py, cites each), EC2's `RequestLimitExceeded`.
THROTTLED = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"})
TRANSIENT = THROTTLED | frozenset({
    "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure", "InternalError",
    "InternalServerError", "RequestTimeout", "RequestTimeoutException", "ProvisionedThroughputExceededException"})
# Another writer got there first: a name or port taken (by a concurrent reconcile, when it is portico's; a foreign
# object is refused by the next pass's plan with a message naming it), API Gateway's 409 for a concurrent change
# (https://docs.aws.amazon.com/apigateway/latest/api/CommonErrors.html), a DynamoDB condition lost. The next
# pass reads what the other writer did and converges: a retry, never the user's to fix.
RACE = frozenset({
    "ConflictException", "DuplicateTargetGroupName", "DuplicateListener", "ConditionalCheckFailedException",
    "TransactionConflictException", "TransactionCanceledException"})
# "It is not there" as ELB, API Gateway, ECS and CloudWatch say it: a delete of it has nothing left to do.
NOT_FOUND = frozenset({
    "TargetGroupNotFound", "ListenerNotFound", "NotFoundException", "ServiceNotFoundException",
    "ClusterNotFoundException", "ResourceNotFound", "ResourceNotFoundException"})
CONDITION_FAILED = "ConditionalCheckFailedException"
CANCELLED = "TransactionCanceledException"  # a DynamoDB transaction (one of its conditions did not hold)


class StepError(Exception):
    """A step that failed in a way retries cannot fix; the message is for the user."""


class Busy(StepError):
    """Another reconcile holds the lease on the object (or a crashed one did, until it expires): transient."""


class ProductError(ValueError):
    """Bad input or a state the command cannot act on; the message names the field and the rule."""


def error_code(error: ClientError | dict[str, Any] | BaseException) -> str:
    """The AWS error code of a ClientError (or of a raw botocore response dict); "" for anything else."""
    response = error.response if isinstance(error, ClientError) else error
    return str((response.get("Error") or {}).get("Code") or "") if isinstance(response, dict) else ""


def error_message(exc: BaseException) -> str:
    """The AWS error message of a ClientError; "" for anything else."""
    return str(exc.response.get("Error", {}).get("Message") or "") if isinstance(exc, ClientError) else ""


def is_not_found(exc: BaseException) -> bool:
    return error_code(exc) in NOT_FOUND


def is_transient(exc: BaseException) -> bool:
    """Errors that botocore already retried and that a later delivery may get past (not quota errors)."""
    if isinstance(exc, Busy):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return error_code(exc) in TRANSIENT | RACE or status >= 500
    return isinstance(exc, (BotoCoreError, ConnectionError, TimeoutError))


def error_text(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        code = error_code(exc)
        text = f"{code or 'Error'}: {error_message(exc)}".rstrip(": ")
        if code in QUOTA_CODES:
            text += " (an AWS quota is reached: raise it in Service Quotas or free room, then re-write the entry)"
        return text
    return str(exc) or type(exc).__name__
