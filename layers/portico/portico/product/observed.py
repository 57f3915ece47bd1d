"""What the product features read from AWS for a reconcile pass: the reconciled stage, portico's alarms
and its dashboard. Reads only; the planner compares them with what the registry asks for."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError


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


def alarm_prefix(stack: str) -> str:
    return f"{stack}-svc-"


def dashboard_name(stack: str) -> str:
    return f"{stack}-services"


def read_product(clients, settings) -> ProductObserved:
    out = ProductObserved()
    apigw = clients.apigateway
    out.api_name = apigw.get_rest_api(restApiId=settings.rest_api_id).get("name", "")
    try:
        st = apigw.get_stage(restApiId=settings.rest_api_id, stageName=settings.stage)
        out.stage = StageState(name=settings.stage, deployment_id=st.get("deploymentId"),
                               method_settings=dict(st.get("methodSettings") or {}),
                               cache_cluster_enabled=bool(st.get("cacheClusterEnabled")))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NotFoundException":
            raise
    cw = clients.cloudwatch
    if cw is None:
        return out
    for page in cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix=alarm_prefix(settings.stack),
                                                             AlarmTypes=["MetricAlarm"]):
        for alarm in page.get("MetricAlarms", []):
            out.alarms[alarm["AlarmName"]] = alarm
    try:
        body = cw.get_dashboard(DashboardName=dashboard_name(settings.stack)).get("DashboardBody")
        out.dashboard = json.loads(body) if body else None
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("ResourceNotFound", "ResourceNotFoundException"):
            raise
    return out
