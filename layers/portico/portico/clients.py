"""boto3 clients for the pipeline. Only handlers and the CLI build them; domain code receives them.

Retries: botocore `standard` mode (throttling and 5xx with capped backoff); quota errors such as
LimitExceededException are not retried by botocore and surface as a FAILED status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from .settings import Settings

DEFAULT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=20,
    user_agent_extra="portico",
)


@dataclass
class Clients:
    """The AWS clients one reconcile uses. Build with `Clients.create`, or pass your own (tests, fakes)."""

    elbv2: Any
    ecs: Any
    apigateway: Any
    dynamodb: Any
    ec2: Any = None
    cloudwatch: Any = None
    streams: Any = None  # dynamodbstreams: only the local stream poller reads it
    region: str = "us-east-1"

    @classmethod
    def create(cls, settings: Settings | None = None, *, boto3_session: boto3.Session | None = None,
               boto_config: Config | None = None) -> Clients:
        settings = settings or Settings.from_env()
        session = boto3_session or boto3.Session(region_name=settings.region)
        config = DEFAULT_CONFIG.merge(boto_config) if boto_config else DEFAULT_CONFIG

        def make(name: str):
            # endpoint_url=None lets boto3 apply AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> itself.
            return session.client(name, endpoint_url=settings.endpoint_url, config=config)

        return cls(elbv2=make("elbv2"), ecs=make("ecs"), apigateway=make("apigateway"),
                   dynamodb=make("dynamodb"), ec2=make("ec2"), cloudwatch=make("cloudwatch"),
                   streams=make("dynamodbstreams"),
                   region=session.region_name or "us-east-1")

    def all(self) -> list[Any]:
        return [c for c in (self.elbv2, self.ecs, self.apigateway, self.dynamodb, self.ec2, self.cloudwatch) if c]
