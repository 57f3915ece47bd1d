"""Custom::ApiGatewayAccount: the account's CloudWatch Logs role is set only where none is set, never replaced."""

from __future__ import annotations

import pytest

from portico.triggers import default_reconciler
from portico.triggers.cfn.apigateway_account import ApiGatewayAccount
from portico.triggers.cfn.properties import ACCOUNT
from tests.faults.injector import Injector

ROLE = "arn:aws:iam::123456789012:role/portico-ApiGatewayCloudWatchRole-1A2B3C4D5E6F"
THEIRS = "arn:aws:iam::123456789012:role/platform-apigateway-logs"


@pytest.fixture
def account(cfn, env):
    """(send, apigateway client): requests from portico's own stack (named as the settings' stack)."""
    stack_id = f"arn:aws:cloudformation:us-east-1:123456789012:stack/{env.stack}/0a1b2c3d-5f1a-11ef-9a3e-0a1b2c3d4e5f"

    def send(request: str, props: dict | None = None, **kw):
        kw.setdefault("stack", stack_id)
        return cfn(request, {"CloudWatchRoleArn": ROLE} if props is None else props, kind=ACCOUNT,
                   logical="ApiGatewayAccountCheck", **kw)

    apigw = default_reconciler().clients.apigateway
    # the account as before any stack: the deployed test stack's own ApiGatewayAccountCheck set its role
    apigw.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": ""}])
    return send, apigw


def test_a_fresh_account_gets_the_stack_role(account):
    send, apigw = account
    assert not apigw.get_account().get("cloudwatchRoleArn")
    answer = send("Create")
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert answer["Data"] == {"CloudWatchRoleArn": ROLE, "Configured": "set"}
    assert answer["PhysicalResourceId"] == ApiGatewayAccount.PHYSICAL_ID
    assert apigw.get_account()["cloudwatchRoleArn"] == ROLE


def test_an_existing_role_is_kept_on_create_and_update(account):
    send, apigw = account
    apigw.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": THEIRS}])
    created = send("Create")
    assert created["Status"] == "SUCCESS" and created["Data"] == {"CloudWatchRoleArn": THEIRS, "Configured": "kept"}
    updated = send("Update", physical=created["PhysicalResourceId"], old={"CloudWatchRoleArn": ROLE})
    assert updated["Status"] == "SUCCESS" and updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert apigw.get_account()["cloudwatchRoleArn"] == THEIRS


def test_delete_leaves_the_account_setting(account):
    send, apigw = account
    created = send("Create")
    deleted = send("Delete", physical=created["PhysicalResourceId"])
    assert deleted["Status"] == "SUCCESS"
    assert apigw.get_account()["cloudwatchRoleArn"] == ROLE


def test_another_stack_or_a_bad_property_is_refused_and_changes_nothing(account):
    send, apigw = account
    rogue = send("Create", stack="arn:aws:cloudformation:us-east-1:123456789012:stack/rogue/0c9d7f4e-5f1a-11ef")
    assert rogue["Status"] == "FAILED"
    assert rogue["Reason"].startswith("Custom::ApiGatewayAccount is served for portico's own stack")
    bad = send("Create", {"CloudWatchRoleArn": "not-an-arn"})
    assert bad["Status"] == "FAILED"
    assert bad["Reason"] == ("CloudWatchRoleArn: must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME), "
                             "got 'not-an-arn'")
    extra = send("Create", {"CloudWatchRoleArn": ROLE, "Force": "true"})
    assert extra["Status"] == "FAILED" and extra["Reason"].startswith("Force: not a property of")
    assert not apigw.get_account().get("cloudwatchRoleArn")


def test_a_role_not_yet_usable_is_retried_until_api_gateway_takes_it(account, monkeypatch):
    send, apigw = account
    monkeypatch.setattr(ApiGatewayAccount, "PAUSE_SECONDS", 0.01)
    inj = Injector().attach(apigw)
    message = "The role ARN does not have required permissions set to API Gateway"
    inj.fail("error", "apigateway", "UpdateAccount", times=3, code="BadRequestException", message=message)
    answer = send("Create")
    assert answer["Status"] == "SUCCESS", answer["Reason"]
    assert [op for op in inj.ops if op[1] == "UpdateAccount"] == [("apigateway", "UpdateAccount")] * 4
    assert apigw.get_account()["cloudwatchRoleArn"] == ROLE


def test_a_role_api_gateway_keeps_refusing_fails_with_its_message(account, monkeypatch):
    send, apigw = account
    monkeypatch.setattr(ApiGatewayAccount, "PAUSE_SECONDS", 0.01)
    inj = Injector().attach(apigw)
    message = "The role ARN does not have required permissions set to API Gateway"
    inj.fail("error", "apigateway", "UpdateAccount", times=None, code="BadRequestException", message=message)
    answer = send("Create")
    assert answer["Status"] == "FAILED"
    assert answer["Reason"] == f"CloudWatchRoleArn: API Gateway refused {ROLE}: {message}"
    assert len([op for op in inj.ops if op[1] == "UpdateAccount"]) == ApiGatewayAccount.ATTEMPTS
