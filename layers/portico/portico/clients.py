"""boto3 clients for the pipeline. Only handlers and the CLI build them; domain code receives them.

Retries: botocore `standard` mode (throttling and 5xx with capped backoff). Standard mode also treats
LimitExceededException as throttling; a quota is not throttling, so `no_retry_on_quota` stops those
retries and the error surfaces at once as a FAILED status.

Pacing: every client of one `Clients` waits for its API's rate before each attempt (pace.py), so the calls a
pass makes in parallel stay within AWS's rates.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from .errors import QUOTA_CODES, error_code
from .pace import Pacer
from .settings import Settings

DEFAULT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=20,
    user_agent_extra="portico",
)


def no_retry_on_quota(client) -> None:
    """Raise quota errors on the first attempt instead of letting `standard` mode retry them as throttling."""
    service = client.meta.service_model.service_id.hyphenize()

    def check(response=None, operation=None, **_):
        if not response or response[1] is None:
            return None
        code = error_code(response[1])
        if code in QUOTA_CODES:
            raise client.exceptions.from_code(code)(response[1], operation.name)
        return None

    client.meta.events.register_first(f"needs-retry.{service}", check, unique_id=f"portico-quota-{service}")


class Lazy:
    """A client built on first use, so a caller pays only for the clients it calls: building one loads its
    service model (EC2's alone takes 0.1-0.3 s), and most commands and handlers need four of the seven."""

    def __init__(self, build, lock: threading.Lock):
        self._build, self._lock, self._client = build, lock, None

    def __getattr__(self, name: str):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._build()
        return getattr(self._client, name)


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
    apigatewayv2: Any = None  # routing rules of custom domain names: only `portico doctor` reads them
    acm: Any = None  # custom domains' certificates: only `portico doctor` reads them
    region: str = "us-east-1"
    pacer: Pacer | None = None  # the request rates every client of these waits for (None: not paced)

    @classmethod
    def create(cls, settings: Settings | None = None, *, boto3_session: boto3.Session | None = None,
               boto_config: Config | None = None, pacer: Pacer | None = None) -> Clients:
        """`pacer`: AWS's documented rates unless given (a test's tighter ones)."""
        settings = settings or Settings.from_env()
        pacer = pacer or Pacer()
        session = boto3_session or boto3.Session(region_name=settings.region)
        config = DEFAULT_CONFIG.merge(boto_config) if boto_config else DEFAULT_CONFIG

        lock = threading.Lock()  # a boto3 session must not build two clients at once

        def make(name: str):
            def build():
                # endpoint_url=None lets boto3 apply AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> itself.
                client = session.client(name, endpoint_url=settings.endpoint_url, config=config)
                no_retry_on_quota(client)
                pacer.attach(client, name)
                return client
            return Lazy(build, lock)

        return cls(elbv2=make("elbv2"), ecs=make("ecs"), apigateway=make("apigateway"),
                   dynamodb=make("dynamodb"), ec2=make("ec2"), cloudwatch=make("cloudwatch"),
                   streams=make("dynamodbstreams"), apigatewayv2=make("apigatewayv2"), acm=make("acm"),
                   region=session.region_name or "us-east-1", pacer=pacer)

    def all(self) -> list[Any]:
        return [c for c in (self.elbv2, self.ecs, self.apigateway, self.dynamodb, self.ec2, self.cloudwatch) if c]
