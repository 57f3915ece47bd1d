"""Apply a plan: steps in ORDER, ensure-style, one failure stops only the service it belongs to."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .clients import QUOTA_CODES, Clients
from .observed import Observed
from .plan import API_ACTIONS, Plan, Step
from .product.steps import ProductSteps
from .settings import Settings
from .state import Conflict, Ledger, StateTable

log = logging.getLogger("portico.apply")
NOT_FOUND = {"TargetGroupNotFound", "ListenerNotFound", "NotFoundException", "ServiceNotFoundException"}


class StepError(Exception):
    """A step that failed in a way retries cannot fix; the message is for the user."""


class Busy(StepError):
    """Another reconcile holds the lease on the object (or a crashed one did, until it expires): transient."""


@dataclass
class ApplyResult:
    failed: dict[str, str] = field(default_factory=dict)
    conflicts: dict[str, Conflict] = field(default_factory=dict)
    retry: dict[str, str] = field(default_factory=dict)  # transient failures: keep PENDING, deliver again
    target_groups: dict[str, str] = field(default_factory=dict)  # name -> arn, after apply
    done: list[Step] = field(default_factory=list)
    deployment_id: str | None = None
    errors: list[str] = field(default_factory=list)


TRANSIENT = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
             "ServiceUnavailable", "ServiceUnavailableException", "InternalFailure", "InternalError",
             "InternalServerError", "RequestTimeout", "RequestTimeoutException",
             "ProvisionedThroughputExceededException"}


def is_transient(exc: Exception) -> bool:
    """Errors that botocore already retried and that a later delivery may get past (not quota errors)."""
    if isinstance(exc, Busy):
        return True
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return err.get("Code") in TRANSIENT or status >= 500
    return isinstance(exc, (BotoCoreError, ConnectionError, TimeoutError))


def error_text(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        text = f"{err.get('Code', 'Error')}: {err.get('Message', '')}".rstrip(": ")
        if err.get("Code") in QUOTA_CODES:
            text += " (an AWS quota is reached: raise it in Service Quotas or free room, then re-write the entry)"
        return text
    return str(exc) or type(exc).__name__


class Applier(ProductSteps):
    def __init__(self, clients: Clients, settings: Settings, state: StateTable, observed: Observed, *,
                 sleep=time.sleep, clock=time.time, on_step: Callable[[int, int], None] | None = None):
        self.c, self.settings, self.state, self.observed = clients, settings, state, observed
        self.sleep, self.clock = sleep, clock
        self.on_step = on_step or (lambda done, total: None)  # progress: steps done of the plan's total
        self.tg_arns = {name: tg.arn for name, tg in observed.target_groups.items()}
        self.resource_ids = {path: r.id for path, r in observed.resources.items()}
        self.ledgers: dict[str, Ledger] = {}
        self.holder = uuid.uuid4().hex

    def ledger(self, service: str) -> Ledger:
        if service not in self.ledgers:
            old = self.observed.state.ledgers.get(service)
            self.ledgers[service] = Ledger.from_dict(old.to_dict()) if old else Ledger(service)
        return self.ledgers[service]

    def run(self, plan: Plan) -> ApplyResult:
        result = self.result = ApplyResult()
        plan.sort()
        api_touched = False
        dirty: set[str] = set()
        try:
            for done, step in enumerate(plan.steps):
                self.on_step(done, len(plan.steps))
                if step.service in result.failed or step.service in result.conflicts or step.service in result.retry:
                    continue
                if step.action == "deploy":
                    if api_touched or step.params.get("pending"):
                        self._deploy(step, result)
                    continue
                if step.action in API_ACTIONS and not api_touched:
                    self.state.mark_deploy_pending(self.settings.stage)  # crash-safe: the next pass deploys
                    api_touched = True
                try:
                    getattr(self, step.action)(step)
                    result.done.append(step)
                    dirty.add(step.service)
                except Conflict as exc:
                    result.conflicts[step.service] = exc
                except (ClientError, BotoCoreError, StepError) as exc:
                    msg = f"{step.action.replace('_', ' ')} failed: {error_text(exc)}"
                    log.warning("step failed", extra={"step": step.to_json(), "error": msg})
                    if step.service == "*":
                        result.errors.append(msg)
                    elif is_transient(exc):
                        result.retry[step.service] = msg
                    else:
                        result.failed[step.service] = msg
            self.on_step(len(plan.steps), len(plan.steps))
        finally:
            result.target_groups = dict(self.tg_arns)
            for service in sorted(dirty - {"*"}):
                ledger = self.ledgers.get(service)
                if ledger is not None:
                    self.state.save_ledger(ledger)
        return result

    # -- reservations --------------------------------------------------------------------------------
    def reserve(self, step: Step) -> None:
        p = step.params
        self.state.reserve(step.service, p["loadBalancer"], p["port"], p["path"], p["ancestors"])
        ledger = self.ledger(step.service)
        ledger.load_balancer, ledger.port, ledger.path = p["loadBalancer"], p["port"], p["path"]

    def release(self, step: Step) -> None:
        p = step.params
        if p.get("keepLedger"):  # the service moved to another port or path: free the old one only
            if p.get("loadBalancer") and p.get("port"):
                self.state.release_port(step.service, p["loadBalancer"], p["port"])
            if p.get("path"):
                self.state.release_path(step.service, p["path"])
            return
        self.state.release(step.service, p["loadBalancer"], p["port"], p["path"])
        self.ledgers[step.service] = None  # type: ignore[assignment]  # offboarded: nothing left to save

    # -- target groups -------------------------------------------------------------------------------
    def adopt_target_group(self, step: Step) -> None:
        arn = step.params["arn"]
        tags = {t["Key"]: t["Value"] for d in self.c.elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"]
                for t in d.get("Tags", [])}
        if tags.get("portico:stack") != self.settings.stack or tags.get("portico:service") != step.service:
            raise StepError(f"target group {step.params['name']} exists but is not tagged as portico's for "
                            f"{step.service}; delete or rename it")
        self.ledger(step.service).target_groups[step.params["name"]] = arn

    def _health(self, p: dict[str, Any]) -> dict[str, Any]:
        args: dict[str, Any] = {"HealthCheckProtocol": p["healthCheckProtocol"], "HealthCheckEnabled": True}
        if p.get("healthCheckPath"):
            args["HealthCheckPath"] = p["healthCheckPath"]
        return args

    def _write_ahead(self, service: str) -> None:
        """Save the ledger before a create, so a crash right after it leaves no object portico cannot find."""
        self.state.save_ledger(self.ledger(service))

    def create_target_group(self, step: Step) -> None:
        p = step.params
        ledger = self.ledger(step.service)
        if p["name"] not in ledger.target_groups:  # the name is deterministic: record it, ARN to follow
            ledger.target_groups[p["name"]] = ""
            self._write_ahead(step.service)
        tg = self.c.elbv2.create_target_group(
            Name=p["name"], Protocol="TCP", Port=p["port"], VpcId=self.settings.vpc_id, TargetType=p["targetType"],
            Tags=self._tags(step.service), **self._health(p))["TargetGroups"][0]
        self.tg_arns[p["name"]] = tg["TargetGroupArn"]
        self.ledger(step.service).target_groups[p["name"]] = tg["TargetGroupArn"]

    def modify_target_group(self, step: Step) -> None:
        self.c.elbv2.modify_target_group(TargetGroupArn=self.tg_arns[step.params["name"]], **self._health(step.params))

    def delete_target_group(self, step: Step) -> None:
        arn = step.params["arn"]
        for attempt in range(6):  # the listener or ECS detach that used it may still be settling
            try:
                self.c.elbv2.delete_target_group(TargetGroupArn=arn)
                break
            except ClientError as exc:
                code = exc.response["Error"]["Code"]
                if code in NOT_FOUND:
                    break
                if code != "ResourceInUse" or attempt == 5:
                    raise
                self.sleep(min(2 ** attempt, 10))
        self.ledger(step.service).target_groups.pop(step.params["name"], None)

    def _tags(self, service: str) -> list[dict[str, str]]:
        return [{"Key": "portico:stack", "Value": self.settings.stack}, {"Key": "portico:service", "Value": service}]

    # -- listeners -----------------------------------------------------------------------------------
    def create_listener(self, step: Step) -> None:
        p = step.params
        li = self.c.elbv2.create_listener(
            LoadBalancerArn=p["loadBalancer"], Protocol="TCP", Port=p["port"],
            DefaultActions=[{"Type": "forward", "TargetGroupArn": self.tg_arns[p["targetGroup"]]}],
            Tags=self._tags(step.service))["Listeners"][0]
        self.ledger(step.service).listener_arn = li["ListenerArn"]

    def modify_listener(self, step: Step) -> None:
        p = step.params
        self._require_owned_listener(step.service, p["listenerArn"], p["port"])
        self.c.elbv2.modify_listener(ListenerArn=p["listenerArn"], DefaultActions=[
            {"Type": "forward", "TargetGroupArn": self.tg_arns[p["targetGroup"]]}])
        self.ledger(step.service).listener_arn = p["listenerArn"]

    def delete_listener(self, step: Step) -> None:
        try:
            self.c.elbv2.delete_listener(ListenerArn=step.params["listenerArn"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in NOT_FOUND:
                raise
        self.ledger(step.service).listener_arn = None

    def _require_owned_listener(self, service: str, arn: str, port: int) -> None:
        if self.ledger(service).listener_arn == arn:
            return
        tags = {t["Key"]: t["Value"] for d in self.c.elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"]
                for t in d.get("Tags", [])}
        if tags.get("portico:stack") != self.settings.stack:
            raise StepError(f"port {port} on the load balancer has a listener portico did not create; "
                            "remove it or let portico pick another port by re-writing the entry")

    # -- API Gateway ---------------------------------------------------------------------------------
    def create_resource(self, step: Step) -> None:
        path = step.params["path"]
        parent, _, part = path.rpartition("/")
        if step.params.get("intermediate"):  # write-ahead: a crash after the create leaves a findable marker
            self.state.put_intermediate(path, "")
        res = self.c.apigateway.create_resource(restApiId=self.settings.rest_api_id,
                                                parentId=self.resource_ids[parent or "/"], pathPart=part)
        self.resource_ids[path] = res["id"]
        if step.params.get("intermediate"):
            self.state.put_intermediate(path, res["id"])
        else:
            self.ledger(step.service).resources[path] = res["id"]

    def put_method(self, step: Step) -> None:
        p = step.params
        args: dict[str, Any] = {"restApiId": self.settings.rest_api_id, "resourceId": self.resource_ids[p["path"]],
                                "httpMethod": p["httpMethod"], "authorizationType": p["authorizationType"],
                                "apiKeyRequired": p["apiKeyRequired"]}
        if p.get("authorizerId"):
            args["authorizerId"] = p["authorizerId"]
        if p["path"].endswith("{proxy+}"):
            args["requestParameters"] = {"method.request.path.proxy": True}
        self.c.apigateway.put_method(**args)

    def update_method(self, step: Step) -> None:
        p = step.params
        ops = [{"op": "replace", "path": "/authorizationType", "value": p["authorizationType"]},
               {"op": "replace", "path": "/apiKeyRequired", "value": str(p["apiKeyRequired"]).lower()},
               {"op": "replace", "path": "/authorizerId", "value": p.get("authorizerId") or ""}]
        self.c.apigateway.update_method(restApiId=self.settings.rest_api_id, resourceId=self.resource_ids[p["path"]],
                                        httpMethod=p["httpMethod"], patchOperations=ops)

    def put_integration(self, step: Step) -> None:
        p = step.params
        args: dict[str, Any] = {
            "restApiId": self.settings.rest_api_id, "resourceId": self.resource_ids[p["path"]],
            "httpMethod": p["httpMethod"], "type": "HTTP_PROXY", "integrationHttpMethod": p["httpMethod"],
            "uri": p["uri"], "connectionType": "VPC_LINK", "connectionId": p["connectionId"],
            "timeoutInMillis": 29000}
        if p.get("proxy"):
            args["requestParameters"] = {"integration.request.path.proxy": "method.request.path.proxy"}
        self.c.apigateway.put_integration(**args)

    def delete_method(self, step: Step) -> None:
        try:
            self.c.apigateway.delete_method(restApiId=self.settings.rest_api_id,
                                            resourceId=self.resource_ids[step.params["path"]],
                                            httpMethod=step.params["httpMethod"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in NOT_FOUND:
                raise

    def delete_resource(self, step: Step) -> None:
        p = step.params
        if p.get("resourceId"):
            try:  # deleting a resource deletes its children ({proxy+}) and their methods
                self.c.apigateway.delete_resource(restApiId=self.settings.rest_api_id, resourceId=p["resourceId"])
            except ClientError as exc:
                if exc.response["Error"]["Code"] not in NOT_FOUND:
                    raise
        if p.get("intermediate"):
            self.state.delete_intermediate(p["path"])
        elif step.service != "*":
            ledger = self.ledger(step.service)
            ledger.resources = {k: v for k, v in ledger.resources.items()
                                if k != p["path"] and not k.startswith(p["path"] + "/")}

    # -- ECS -----------------------------------------------------------------------------------------
    def _update_load_balancers(self, key: str, change) -> None:
        """Read-modify-write of the whole loadBalancers list under a lease, keeping foreign entries."""
        cluster, service = key.split("/", 1)
        lock = f"ecs#{key}"
        for _ in range(50):
            if self.state.acquire(lock, self.holder):
                break
            self.sleep(0.2)
        else:
            raise Busy(f"ECS service {key} is being changed by another reconcile")
        try:
            described = self.c.ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
            if not described or described[0].get("status") == "INACTIVE":
                raise StepError(f"ECS service {key} no longer exists")
            current = list(described[0].get("loadBalancers") or [])
            wanted = change(current)
            if wanted != current:
                self.c.ecs.update_service(cluster=cluster, service=service, loadBalancers=wanted)
        finally:
            self.state.release_lock(lock, self.holder)

    def attach_ecs(self, step: Step) -> None:
        p = step.params
        arn = self.tg_arns[p["targetGroup"]]
        drop = set(p.get("detach") or []) | {arn}
        entry = {"targetGroupArn": arn, "containerName": p["containerName"], "containerPort": p["containerPort"]}
        ledger = self.ledger(step.service)
        if ledger.ecs != p["ecsService"]:  # write-ahead: offboarding must know which ECS service to detach
            ledger.ecs = p["ecsService"]
            self._write_ahead(step.service)
        self._update_load_balancers(p["ecsService"],
                                    lambda lbs: [lb for lb in lbs if lb.get("targetGroupArn") not in drop] + [entry])
        self.ledger(step.service).ecs = p["ecsService"]

    def detach_ecs(self, step: Step) -> None:
        drop = set(step.params["targetGroups"])
        try:
            self._update_load_balancers(step.params["ecsService"],
                                        lambda lbs: [lb for lb in lbs if lb.get("targetGroupArn") not in drop])
        except StepError as exc:
            if "no longer exists" not in str(exc):
                raise
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in NOT_FOUND | {"ClusterNotFoundException"}:
                raise
        ledger = self.ledger(step.service)
        if ledger.ecs == step.params["ecsService"]:
            ledger.ecs = None

    # -- deployment ----------------------------------------------------------------------------------
    def _deploy(self, step: Step, result: ApplyResult) -> None:
        stage = step.params["stage"]
        last = float((self.observed.state.deploys.get(stage) or {}).get("at") or 0)
        wait = last + self.settings.deploy_interval_seconds - self.clock()
        if wait > 0:  # CreateDeployment allows 1 per 5 s per account
            self.sleep(wait)
        try:
            dep = self.c.apigateway.create_deployment(restApiId=self.settings.rest_api_id, stageName=stage,
                                                      description=step.params.get("description", "portico"))
        except ClientError as exc:
            result.errors.append(f"deploy to {stage} failed: {error_text(exc)}; the next reconcile retries it")
            return
        result.deployment_id = dep["id"]
        self.state.record_deploy(stage, dep["id"], self.clock())
        result.done.append(step)

