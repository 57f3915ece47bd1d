"""Custom::ApiGatewayAccount (portico's own stack only): API Gateway's CloudWatch Logs role for the account.

Access logs need one; it is set where none is set, and the account's own is never replaced.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from botocore.exceptions import ClientError

from ...errors import error_code, error_message
from ...reconcile import Reconciler
from .answer import ANSWER_MARGIN_SECONDS, Failure, remaining
from .properties import ACCOUNT, refuse_unknown

log = logging.getLogger("portico.provider")


class ApiGatewayAccount:
    """Custom::ApiGatewayAccount: API Gateway's CloudWatch Logs role for the account and region, set to
    `CloudWatchRoleArn` only where `GetAccount` shows none; an existing role is kept (data `Configured` =
    `kept` or `set`). Delete changes nothing: once set, every API of the region logs through the role.

    A role created in the same stack is not usable at once: UpdateAccount answers BadRequestException ("The
    role ARN does not have required permissions set to API Gateway") until IAM has propagated it
    (https://github.com/aws/aws-cdk/issues/2194); the Serverless Framework's equivalent custom resource
    retries 10 times, 10 s apart (https://github.com/serverless/serverless/blob/main/lib/plugins/aws/
    custom-resources/resources/api-gateway-cloud-watch-role/handler.js). So does this one, within the time left.
    """

    PHYSICAL_ID = "portico:apigateway-account"
    ROLE_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
    ATTEMPTS, PAUSE_SECONDS = 10, 10.0

    def __init__(self, reconciler: Reconciler, *, sleep=time.sleep):
        self.apigateway, self.stack, self.sleep = reconciler.clients.apigateway, reconciler.settings.stack, sleep

    def upsert(self, event: dict[str, Any], context: Any) -> tuple[str, dict[str, Any]]:
        stack = str(event.get("StackId", "")).split(":stack/")[-1].split("/")[0]
        if stack != self.stack:
            raise Failure(f"{ACCOUNT} is served for portico's own stack ({self.stack}) only, not for {stack!r}")
        props = event.get("ResourceProperties") or {}
        refuse_unknown(props, ["CloudWatchRoleArn"], ACCOUNT)
        role = str(props.get("CloudWatchRoleArn", ""))
        if not self.ROLE_RE.fullmatch(role):
            raise Failure(f"CloudWatchRoleArn: must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), got {role!r}")
        current = self.apigateway.get_account().get("cloudwatchRoleArn")
        if current:
            log.info("the account has a CloudWatch role: kept", extra={"role": current})
            return self.PHYSICAL_ID, {"CloudWatchRoleArn": current, "Configured": "kept"}
        for attempt in range(1, self.ATTEMPTS + 1):
            try:
                self.apigateway.update_account(patchOperations=[
                    {"op": "replace", "path": "/cloudwatchRoleArn", "value": role}])
                break
            except ClientError as exc:
                left = remaining(context) - ANSWER_MARGIN_SECONDS
                if error_code(exc) != "BadRequestException" or attempt == self.ATTEMPTS \
                        or left < self.PAUSE_SECONDS:
                    raise Failure(f"CloudWatchRoleArn: API Gateway refused {role}: "
                                  f"{error_message(exc) or exc}") from None
                log.info("the role is not usable yet (IAM propagation): retrying", extra={"attempt": attempt})
                self.sleep(self.PAUSE_SECONDS)
        log.info("set the account's CloudWatch role", extra={"role": role})
        return self.PHYSICAL_ID, {"CloudWatchRoleArn": role, "Configured": "set"}

    def delete(self, event: dict[str, Any], context: Any) -> tuple[str, dict[str, Any]]:
        return event.get("PhysicalResourceId") or self.PHYSICAL_ID, {}
