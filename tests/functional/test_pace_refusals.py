"""The pacer learns of the account's other callers from AWS's refusals: on the emulator with its AWS model on, a
bucket holding half of what the pacer believes (as when another caller takes the other half) refuses a few calls,
then the pacer slows to what is left; the same calls without that feedback are refused again and again."""

from __future__ import annotations

import pytest
from botocore.config import Config

from portico.pace import Pacer
from portico_cli.local_aws import account as local
from portico_cli.local_aws.emulator import aws_model

CALLS = 60
AWS = (5, 20)  # what the account has left of ELBv2's read bucket: 5 burst, 20 a second
BELIEVED = {"ELBV2_DESCRIBE": (5, 40)}  # what the pacer starts from: twice the rate


@pytest.fixture
def model(aws, monkeypatch):
    monkeypatch.setenv(aws_model.SWITCH, "1")
    monkeypatch.setenv(aws_model.LATENCY, "5")
    monkeypatch.setenv(aws_model.RATE + "ELBV2_DESCRIBE", "{}/{}".format(*AWS))
    aws_model.reset()
    yield aws
    aws_model.reset()


def refusals_of(endpoint: str, pacer: Pacer) -> int:
    elbv2 = local.session(endpoint).client("elbv2", endpoint_url=endpoint, config=Config(
        retries={"mode": "standard", "total_max_attempts": 20}))
    pacer.attach(elbv2, "elbv2")
    aws_model.reset()  # full buckets
    for _ in range(CALLS):
        elbv2.describe_load_balancers()  # each succeeds in the end: its retries wait for the pacer too
    return sum(aws_model.refusals().values())


def test_a_refusal_slows_the_pacer_to_what_the_account_has_left(model, monkeypatch):
    learning = Pacer(BELIEVED, margin=1.0, rate_margin=1.0)
    learned = refusals_of(model, learning)
    assert learning.refusals == learned and 1 <= learned <= 5  # measured: 3 to 4
    assert learning._buckets["ELBV2_DESCRIBE"].rate < BELIEVED["ELBV2_DESCRIBE"][1]

    monkeypatch.setattr(Pacer, "refused", lambda self, service, action: None)  # the same pacer, deaf to refusals
    deaf = refusals_of(model, Pacer(BELIEVED, margin=1.0, rate_margin=1.0))
    assert deaf >= 2 * learned + 2, (learned, deaf)  # measured: 11 to 14
