"""The local AWS account: its region, its fixed credentials and a boto3 session on them (used by the local stack, the
tests and the emulator's own calls back into itself)."""

from __future__ import annotations

import boto3

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def session(endpoint: str) -> boto3.Session:
    return boto3.Session(region_name=REGION, aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                         aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                         aws_session_token=CREDENTIALS["AWS_SESSION_TOKEN"])
