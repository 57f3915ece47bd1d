"""What the local data plane reads and writes that moto lacks, added as AWS has it (connectionId on
integrations is kept by `apigateway_import`).

- A deployment's `apiSummary` (GetDeployment `embed=apisummary`): AWS snapshots the API when it deploys, so a
  stage serves the methods that existed then, with the auth they had (the `MethodSnapshot` shape:
  `{path: {verb: {authorizationType, apiKeyRequired}}}`,
  https://docs.aws.amazon.com/apigateway/latest/api/API_Deployment.html). moto keeps no snapshot.
- Measured target health: moto reports every registered target `healthy`. The data plane's health checker
  reports what it measured to `POST /moto-api/portico/target-health` (moto-api is moto's own channel for state
  no AWS API sets), and DescribeTargetHealth then answers with it. Targets nothing measured keep moto's answer.
- Running tasks: moto's services report `runningCount` 0 (or MOTO_ECS_SERVICE_RUNNING) forever. The local ECS
  agent reports how many of a service's tasks run to `POST /moto-api/portico/ecs-running`, and
  DescribeServices then reports runningCount, pendingCount and the primary deployment's rollout as ECS does.
"""

from __future__ import annotations

import json

from . import route, wrap

HEALTH_URL = "/moto-api/portico/target-health"
RUNNING_URL = "/moto-api/portico/ecs-running"


def _snapshot(create_deployment):
    def wrapper(self, name, description, stage_variables=None):
        deployment = create_deployment(self, name, description, stage_variables)
        deployment.api_summary = {
            res.get_path(): {verb: {"authorizationType": m.authorization_type or "NONE",
                                    "apiKeyRequired": bool(m.api_key_required)}
                             for verb, m in res.resource_methods.items()}
            for res in self.resources.values() if res.resource_methods}
        return deployment

    return wrapper


def _get_deployment(get_deployment):
    def wrapper(self):
        body = json.loads(get_deployment(self))
        if "apisummary" in (self.querystring.get("embed") or []):
            parts = self.path.split("/")
            deployment = self.backend.get_deployment(parts[2], parts[4])
            body["apiSummary"] = getattr(deployment, "api_summary", {})
        return json.dumps(body)

    return wrapper


def _measured(health_for):
    def wrapper(self, target, ec2_backend):
        from moto.elbv2.models import FakeHealthStatus

        status = health_for(self, target, ec2_backend)
        measured = getattr(self, "portico_health", {}).get(target["Id"])
        if measured is None or target["Id"] not in self.targets:
            return status
        return FakeHealthStatus(status.instance_id, status.port, status.health_check_port, measured["State"],
                                measured.get("Reason"), measured.get("Description"))

    return wrapper


def report_target_health(request, full_url, headers):
    """`{"targetGroupArn": ARN, "targets": [{"Id", "State", "Reason"?, "Description"?}]}`: replaces what was
    measured for the target group's targets."""
    from moto.elbv2.models import elbv2_backends

    body = json.loads(request.get_data() if hasattr(request, "get_data") else request.body)
    arn = body.get("targetGroupArn", "")
    parts = arn.split(":")
    if len(parts) < 6:
        return 400, {}, json.dumps({"message": f"targetGroupArn: not a target group ARN: {arn!r}"})
    tg = elbv2_backends[parts[4]][parts[3]].target_groups.get(arn)
    if tg is None:
        return 404, {}, json.dumps({"message": f"targetGroupArn: no target group {arn}"})
    tg.portico_health = {t["Id"]: t for t in body.get("targets", [])}
    return 200, {}, json.dumps({"targets": len(tg.portico_health)})


def report_ecs_running(request, full_url, headers):
    """`{"serviceArn": ARN, "running": N}`."""
    from moto.ecs.models import ecs_backends

    body = json.loads(request.get_data() if hasattr(request, "get_data") else request.body)
    arn = body.get("serviceArn", "")
    parts = arn.split(":")
    names = parts[5].split("/") if len(parts) > 5 else []
    if len(names) != 3 or names[0] != "service":
        return 400, {}, json.dumps({"message": f"serviceArn: not a service ARN with its cluster: {arn!r}"})
    service = ecs_backends[parts[4]][parts[3]].services.get(f"{names[1]}:{names[2]}")
    if service is None:
        return 404, {}, json.dumps({"message": f"serviceArn: no service {arn}"})
    running = max(int(body.get("running", 0)), 0)
    service.running_count, service.pending_count = running, max(service.desired_count - running, 0)
    for d in service.deployments[:1]:
        d.update(runningCount=running, pendingCount=service.pending_count,
                 rolloutState="COMPLETED" if running >= service.desired_count else "IN_PROGRESS")
    return 200, {}, json.dumps({"running": running})


def install() -> None:
    from moto.apigateway.models import RestAPI
    from moto.apigateway.responses import APIGatewayResponse
    from moto.elbv2.models import FakeTargetGroup
    from moto.moto_api._internal import urls

    wrap(RestAPI, "create_deployment", _snapshot)
    wrap(APIGatewayResponse, "get_deployment", _get_deployment)
    wrap(FakeTargetGroup, "health_for", _measured)
    route(urls.url_paths, "{0}" + HEALTH_URL + "$", report_target_health, new=True)
    route(urls.url_paths, "{0}" + RUNNING_URL + "$", report_ecs_running, new=True)
