"""Each kind of failure a command can meet becomes the documented exit code with a cause and a fix
(docs/cli.md), from botocore's own exception classes."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from portico.errors import ProductError
from portico.settings import Settings
from portico.spec import SpecError
from portico_cli.errors import CliError, Code, explain

SETTINGS = Settings(registry_table="reg", state_table="state", rest_api_id="abc123")


def client_error(code: str, message: str = "", operation: str = "Scan") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@pytest.mark.parametrize(("exc", "code", "cause", "fix"), [
    (SpecError("path", "must start with '/'"), Code.REFUSED, "path: must start with '/'", "correct the value"),
    (ProductError("--plan: unknown tier 'gold'"), Code.REFUSED, "--plan: unknown tier", "correct the value"),
    (NoRegionError(), Code.NOT_CONFIGURED, "no AWS region is set", "AWS_REGION"),
    (NoCredentialsError(), Code.NOT_CONFIGURED, "AWS credentials: Unable to locate credentials", "aws configure"),
    (client_error("ResourceNotFoundException", "Requested resource not found"), Code.NOT_CONFIGURED,
     "Scan: ResourceNotFoundException: Requested resource not found", "PORTICO_REGISTRY_TABLE=reg"),
    (client_error("NotFoundException", "Invalid API identifier specified 123:abc123", "GetResources"),
     Code.NOT_CONFIGURED, "GetResources: NotFoundException", "PORTICO_REST_API_ID=abc123"),
    (client_error("ExpiredTokenException", "expired", "GetItem"), Code.NOT_CONFIGURED, "ExpiredTokenException",
     "refresh the AWS credentials"),
    (client_error("AccessDeniedException", "not authorized", "PutItem"), Code.FAILED, "PutItem: AccessDenied",
     "grant PutItem"),
    (client_error("TooManyRequestsException", "slow down", "CreateResource"), Code.FAILED,
     "CreateResource: TooManyRequestsException: slow down", "already retried"),
    (EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-9.amazonaws.com/"), Code.FAILED,
     "cannot reach AWS: Could not connect", "AWS_ENDPOINT_URL"),
    (KeyError("x"), Code.FAILED, "unexpected KeyError: 'x'", "portico --debug"),
])
def test_explain(exc, code, cause, fix):
    error = explain(exc, SETTINGS)
    assert error.code == code and cause in error.message and fix in error.fix


def test_a_cli_error_is_kept_and_codes_have_kinds():
    error = CliError(Code.REFUSED, "SERVICE: no entry", "portico ls")
    assert explain(error) is error
    assert [c.kind for c in Code] == ["ok", "failed", "usage", "not-configured", "refused"]
    assert [int(c) for c in Code] == [0, 1, 2, 3, 4]
