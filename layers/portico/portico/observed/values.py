"""What a pass observed, as values: load balancers, listeners, rules, target groups, API resources, ECS
services, the product kinds' state, and the names portico gives its alarms and dashboards."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..state import Ledger, StateSnapshot


@dataclass
class Rule:
    """A non-default rule of an ALB listener: its conditions as (field, header name, values) and forwards."""

    arn: str
    priority: int
    conditions: tuple[tuple[str, str | None, tuple[str, ...]], ...]
    target_group_arns: tuple[str, ...]


@dataclass
class Listener:
    arn: str
    port: int
    protocol: str
    target_group_arns: tuple[str, ...]
    rules: dict[str, Rule] = field(default_factory=dict)  # HTTP(S) listeners (an ALB's): by rule ARN


@dataclass
class LoadBalancer:
    arn: str
    dns: str
    vpc_link: str
    listeners: dict[int, Listener] = field(default_factory=dict)
    integration_target: str | None = None  # the NLB itself, when the link is a v2 one
    state: str = "active"  # "provisioning" while AWS creates it: no listener or rule goes on it yet
    type: str = "network"  # or "application" (ALB mode)
    subnets: tuple[str, ...] = ()  # what a load balancer added to the pool copies (kinds/load_balancer.py)
    security_groups: tuple[str, ...] = ()


@dataclass
class TargetGroup:
    arn: str
    name: str
    port: int
    protocol: str
    target_type: str
    health_protocol: str
    health_path: str | None
    # (interval, timeout, healthy threshold, unhealthy threshold); None when the description did not say
    health_timing: tuple[int, int, int, int] | None = None


@dataclass
class Method:
    http_method: str
    authorization: str
    api_key_required: bool
    authorizer_id: str | None
    integration: dict[str, Any]


@dataclass
class Resource:
    id: str
    path: str
    parent_id: str | None
    methods: dict[str, Method] = field(default_factory=dict)


@dataclass
class EcsService:
    key: str  # "cluster/service" as written in the spec
    arn: str
    status: str
    controller: str
    task_definition: str
    load_balancers: list[dict[str, Any]]
    # name -> container ports; None: its task definition is not read yet, apply reads it (ecs.check_container)
    containers: dict[str, set[int]] | None = field(default_factory=dict)
    network_mode: str = "awsvpc"


@dataclass
class StageState:
    name: str
    deployment_id: str | None
    method_settings: dict[str, dict[str, Any]]
    cache_cluster_enabled: bool


@dataclass
class ProductObserved:
    api_name: str = ""
    stage: StageState | None = None
    alarms: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> describe_alarms entry
    dashboard: dict[str, Any] | None = None  # parsed body, None when there is none
    pages: dict[str, dict[str, Any]] = field(default_factory=dict)  # the dashboard's pages 2..K by name


@dataclass
class Observed:
    state: StateSnapshot
    load_balancers: dict[str, LoadBalancer]
    target_groups: dict[str, TargetGroup]  # by name
    resources: dict[str, Resource]  # by path
    ecs: dict[str, EcsService | None]  # "cluster/service" -> service, None when it does not exist
    cognito_authorizer: str | None = None  # id of the API's Cognito authorizer, when the stack has one
    product: ProductObserved | None = None  # the reconciled stage, portico's alarms and dashboard

    def ledger_target_groups(self, ledger: Ledger | None) -> dict[str, str]:
        """The ledger's target groups by name, with ARNs from AWS where the ledger only holds the name (a
        target group recorded before its create call, which a crash may have cut short)."""
        if not ledger:
            return {}
        return {name: (self.target_groups[name].arn if name in self.target_groups else arn)
                for name, arn in ledger.target_groups.items()}


def alarm_prefix(stack: str) -> str:
    return f"{stack}-svc-"


def dashboard_name(stack: str, page: int = 1) -> str:
    return f"{stack}-services" if page == 1 else f"{stack}-services-{page}"


def dashboard_pages(body: dict[str, Any] | None) -> int:
    """How many pages the services dashboard has, as its first page's header says ("page 1 of K")."""
    header = ((body or {}).get("widgets") or [{}])[0].get("properties", {}).get("markdown", "")
    found = re.search(r"page 1 of (\d+)", header)
    return int(found.group(1)) if found else 1


def ecs_key(cluster: str, service: str) -> str:
    return f"{cluster.rsplit('/', 1)[-1]}/{service.rsplit('/', 1)[-1]}"
