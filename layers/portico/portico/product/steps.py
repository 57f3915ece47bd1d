"""Apply the product steps (mixed into `apply.Applier`): ensure-style, one call per step."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..plan import Step
from .alarms import alarm_requests, dashboard_body, watched_stage
from .pipeline import route_from_json


class ProductSteps:
    """Needs from the Applier: c (clients), settings, observed, tg_arns, ledger(service), result."""

    def put_alarms(self, step: Step) -> None:
        route = route_from_json(step.params["route"])
        product = getattr(self.observed, "product", None)
        requests = alarm_requests(route, stack=self.settings.stack, api_name=product.api_name if product else "",
                                  stage=watched_stage(self.settings), topic=self.settings.alarm_topic_arn,
                                  target_group_arn=self.tg_arns.get(route.target_group or ""))
        for request in requests:
            self.c.cloudwatch.put_metric_alarm(**request)
        made = [r["AlarmName"] for r in requests]
        stale = [n for n in step.params["names"] if n not in made and product and n in product.alarms]
        if stale:
            self.c.cloudwatch.delete_alarms(AlarmNames=stale)
        self.ledger(step.service).alarms = made

    def delete_alarms(self, step: Step) -> None:
        names = step.params["names"]
        for i in range(0, len(names), 100):
            try:
                self.c.cloudwatch.delete_alarms(AlarmNames=names[i:i + 100])
            except ClientError as exc:
                if exc.response["Error"]["Code"] not in ("ResourceNotFound", "ResourceNotFoundException"):
                    raise
        ledger = self.ledger(step.service)
        ledger.alarms = [n for n in ledger.alarms if n not in names]

    def update_stage(self, step: Step) -> None:
        """One UpdateStage; operations of services that failed earlier in this pass are left out (their
        methods may be missing from the deployment, which would make API Gateway reject the whole patch)."""
        result = getattr(self, "result", None)
        skip = set(result.failed) | set(result.retry) | set(result.conflicts) if result else set()
        owners = step.params.get("owners") or {}
        ops = []
        for op in step.params["patch"]:
            parts = op["path"][1:].split("/")
            key = "/".join(parts[:2]) if len(parts) >= 2 else ""
            if owners.get(key) not in skip:
                ops.append(op)
        if ops:
            self.c.apigateway.update_stage(restApiId=self.settings.rest_api_id, stageName=step.params["stage"],
                                           patchOperations=ops)

    def put_dashboard(self, step: Step) -> None:
        import json

        product = getattr(self.observed, "product", None)
        body = dashboard_body([route_from_json(r) for r in step.params["routes"]],
                              api_name=product.api_name if product else "", stage=watched_stage(self.settings),
                              region=self.c.region, target_group_arns=self.tg_arns)
        self.c.cloudwatch.put_dashboard(DashboardName=step.params["name"], DashboardBody=json.dumps(body))
