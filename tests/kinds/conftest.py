"""Shared by the kind tests: a local stack in a given mode (NLB or ALB, VPC link v1 or v2) and what they read back
from it."""

from __future__ import annotations

import pytest

from portico.clients import Clients
from portico.reconcile import Reconciler
from portico.registry import Registry
from portico_cli.local_aws import account as local
from tests.conftest import shaped_stack

MODES = {"nlb": {}, "alb": {"vpc_links": "v2", "backend": "alb"}}  # ALB mode needs a VPC link v2


def local_stack(aws, **kw):
    """(settings, clients, registry, reconciler) of template.yaml's stack in the shape `kw` names (shaped_stack)."""
    s = shaped_stack(aws, **kw)
    clients = Clients.create(s, boto3_session=local.session(s.endpoint_url))
    return s, clients, Registry(clients.dynamodb, s.registry_table), Reconciler(clients, s, sleep=lambda _: None)


@pytest.fixture
def alb(aws):
    """A local stack in ALB mode."""
    return local_stack(aws, **MODES["alb"])


def integrations(clients, s, path) -> list[dict]:
    """The integrations of the methods on the API resource `path`."""
    items = clients.apigateway.get_resources(restApiId=s.rest_api_id, embed=["methods"], limit=500)["items"]
    [res] = [r for r in items if r["path"] == path]
    return [m["methodIntegration"] for m in res["resourceMethods"].values()]


def rules(clients, s) -> list[dict]:
    """The rules of the ALB's listener, its default rule left out."""
    return [r for r in clients.elbv2.describe_rules(ListenerArn=s.alb_listener_arn)["Rules"] if not r["IsDefault"]]
