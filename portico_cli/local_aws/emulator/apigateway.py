"""API Gateway as portico relies on it: what moto lacks, gets wrong or accepts that AWS refuses.

Operations moto lacks or gets wrong:
- UpdateMethod: moto answers "not implemented"; AWS applies JSON-patch operations to the
  method. Supported here: replace /authorizationType, /apiKeyRequired, /authorizerId,
  /authorizationScopes, /operationName, /requestValidatorId (what portico and most tools patch).
- CreateDeployment to an existing stage: moto replaces the stage (its method settings,
  cache cluster and description are lost); AWS only points the stage at the new deployment.
- UpdateStage `remove /{resource_path}/{http_method}`: moto ignores it; AWS drops that
  method-settings override.
- A deployment is a snapshot of the API: moto keeps none; here each deployment records the VPC links its
  integrations use (their `connectionId`, which apigateway_import.py keeps), for the DeleteVpcLink rule below.
- DeleteDeployment: moto refuses when the stage the deployment was created for exists (whatever that stage
  points to now) and allows it when another stage points to it; AWS refuses exactly while a stage points to
  it (BadRequestException "Active stages pointing to this deployment must be moved or deleted").
- CreateResource: moto adds a second child of the same name under one parent, and a child under a parent that
  does not exist; AWS refuses the first with 409 ConflictException "Another resource with the same parent
  already has this name: {pathPart}" (as reported in https://github.com/serverless/serverless/issues/10493) and
  the second with 404 NotFoundException "Invalid Resource identifier specified".
- DeleteResource: moto removes the one resource and leaves its children pointing at nothing (GetResources then
  fails); AWS deletes the resource with its child resources and their methods, which portico relies on.

Rules AWS enforces and moto does not (quotas configurable, see the package docstring):
- CreateResource past the resources-per-API quota (300, adjustable; the root resource counts):
  `LimitExceededException` (429) "Maximum number of Resources for this API has been reached.  Please contact
  AWS if you need additional Resources." (the message as AWS returns it: https://github.com/boto/boto3/issues/1296;
  the quota: https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
- UpdateStage with too many patch operations: `BadRequestException` "Update size too large. Try updating stage
  in multiple UpdateStage operations" (as users of a stage-caching plugin met it at 22 functions:
  https://github.com/DianaIonita/serverless-api-gateway-caching/issues/46). AWS documents no number; that
  plugin and its sister serverless-api-gateway-throttling (src/updateRestApiStageThrottling.js,
  MAX_PATCH_OPERATIONS_PER_STAGE_UPDATE) send at most 80 operations per call and work, so 80 is the largest
  batch known to pass: the emulator refuses more than 80.
- CreateDeployment more than once per 5 s per account and region (not adjustable):
  `TooManyRequestsException` (429) "Too Many Requests" with a `Retry-After` header (the quota: "CreateDeployment
  1 request every 5 seconds per account", https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html;
  the shape: botocore's apigateway model, TooManyRequestsException, retryAfterSeconds in `Retry-After`).
- DeleteVpcLink while a stage's deployment has an integration through the link: `BadRequestException`
  "Cannot delete vpc link. Vpc link '{id}', is referenced in [{api}:{METHOD}:{resource}:{stage}, ...] in format
  of [RESTApiId:Method:Resource:Stage]." (as AWS returns it: https://github.com/klothoplatform/klotho/issues/202;
  the older form without the API id: https://github.com/hashicorp/terraform/issues/18392).
"""

from __future__ import annotations

import json
import math
import threading
import time

from . import add, limit, wrap

RESOURCES = "PORTICO_EMULATOR_RESOURCES_PER_API"
PATCH_OPERATIONS = "PORTICO_EMULATOR_STAGE_PATCH_OPERATIONS"
DEPLOY_INTERVAL = "PORTICO_EMULATOR_DEPLOY_INTERVAL_SECONDS"
_deploy_lock = threading.Lock()


def _update_method(self):  # bound as moto.apigateway.responses.APIGatewayResponse.update_method
    from moto.apigateway.exceptions import BadRequestException

    parts = self.path.split("/")
    function_id, resource_id, method_type = parts[2], parts[4], parts[6]
    method = self.backend.get_method(function_id, resource_id, method_type)
    for op in self._get_param("patchOperations") or []:
        path, value = op.get("path"), op.get("value")
        if op.get("op") not in ("replace", "add", "remove"):
            raise BadRequestException(f"Invalid patch operation specified. Must be add|remove|replace, got {op}")
        if op.get("op") == "remove":
            value = None
        if path == "/authorizationType":
            method.authorization_type = value or "NONE"
        elif path == "/apiKeyRequired":
            method.api_key_required = str(value).lower() == "true"
        elif path == "/authorizerId":
            method.authorizer_id = value or None
        elif path == "/authorizationScopes":
            method.authorization_scopes = [value] if value else None
        elif path == "/operationName":
            method.operation_name = value
        elif path == "/requestValidatorId":
            method.request_validator_id = value or None
        else:
            raise BadRequestException(f"Invalid patch path '{path}' specified for op '{op.get('op')}'")
    return 200, {}, json.dumps(method.to_json())


def _vpc_link_uses(api) -> dict[str, list[str]]:
    """{vpc link id: ["METHOD:resourceId", ...]} over the API's integrations right now."""
    uses: dict[str, list[str]] = {}
    for resource in api.resources.values():
        for verb, method in sorted(resource.resource_methods.items()):
            integration = method.method_integration
            link = getattr(integration, "connection_id", None)
            if integration is not None and link and integration.connection_type == "VPC_LINK":
                uses.setdefault(link, []).append(f"{verb}:{resource.id}")
    return uses


def _keep_stage(create_deployment):  # RestAPI.create_deployment
    def wrapper(self, name, description, stage_variables=None):
        existing = self.stages.get(name) if name else None
        deployment = create_deployment(self, name, description, stage_variables)
        deployment.vpc_link_uses = _vpc_link_uses(self)
        if existing is not None:
            existing.deployment_id = deployment.id
            existing.variables = {**existing.variables, **(stage_variables or {})}
            self.stages[name] = existing
        return deployment

    return wrapper


def _delete_deployment(_original):  # RestAPI.delete_deployment
    def wrapper(self, deployment_id):
        from moto.apigateway.exceptions import DeploymentNotFoundException, StageStillActive

        if deployment_id not in self.deployments:
            raise DeploymentNotFoundException()
        if any(stage.deployment_id == deployment_id for stage in self.stages.values()):
            raise StageStillActive()
        return self.deployments.pop(deployment_id)

    return wrapper


def _throttle(code: str, message: str, retry_after: str | None = None) -> Exception:
    """A 429 error of API Gateway's shape (its quota and throttling errors), with `Retry-After` when given."""
    from moto.apigateway.exceptions import ApiGatewayException

    error = ApiGatewayException(code, message)
    error.code = 429
    if retry_after:
        error.get_headers = lambda *a, **k: [*ApiGatewayException.get_headers(error), ("Retry-After", retry_after)]
    return error


def _resource_quota(add_child):  # RestAPI.add_child: CreateResource and the imports
    def wrapper(self, path, parent_id=None):
        if len(self.resources) >= limit(RESOURCES, 300):
            raise _throttle("LimitExceededException", "Maximum number of Resources for this API has been reached.  "
                            "Please contact AWS if you need additional Resources.")
        return add_child(self, path, parent_id)

    return wrapper


def _remove_method_settings(apply_operations):  # Stage.apply_operations
    def wrapper(self, patch_operations):
        rest = []
        for op in patch_operations:
            parts = op.get("path", "").split("/")
            if op.get("op") == "remove" and len(parts) == 3 and parts[0] == "":
                self.method_settings.pop(f"{parts[1]}/{parts[2]}", None)
            else:
                rest.append(op)
        return apply_operations(self, rest)

    return wrapper


def _patch_size(update_stage):  # APIGatewayBackend.update_stage
    def wrapper(self, function_id, stage_name, patch_operations):
        from moto.apigateway.exceptions import BadRequestException

        if len(patch_operations or []) > limit(PATCH_OPERATIONS, 80):
            raise BadRequestException("Update size too large. Try updating stage in multiple UpdateStage operations")
        return update_stage(self, function_id, stage_name, patch_operations)

    return wrapper


def _deploy_rate(create_deployment):  # APIGatewayBackend.create_deployment: one per interval per account+region
    def wrapper(self, *args, **kwargs):
        with _deploy_lock:
            wait = getattr(self, "portico_last_deploy", -math.inf) + limit(DEPLOY_INTERVAL, 5) - time.monotonic()
            if wait > 0:
                raise _throttle("TooManyRequestsException", "Too Many Requests", retry_after=str(math.ceil(wait)))
            deployment = create_deployment(self, *args, **kwargs)
            self.portico_last_deploy = time.monotonic()
            return deployment

    return wrapper


def _delete_vpc_link(delete_vpc_link):  # APIGatewayBackend.delete_vpc_link
    def wrapper(self, vpc_link_id):
        from moto.apigateway.exceptions import BadRequestException

        refs = []
        for api in self.apis.values():
            for stage_name, stage in sorted(api.stages.items()):
                deployment = api.deployments.get(stage.deployment_id)
                for use in getattr(deployment, "vpc_link_uses", {}).get(vpc_link_id, []):
                    refs.append(f"{api.id}:{use}:{stage_name}")
        if refs:
            raise BadRequestException(f"Cannot delete vpc link. Vpc link '{vpc_link_id}', is referenced in "
                                      f"[{', '.join(refs)}] in format of [RESTApiId:Method:Resource:Stage].")
        return delete_vpc_link(self, vpc_link_id)

    return wrapper


def _unique_child(create_resource):
    def wrapper(self, function_id, parent_resource_id, path_part):
        from moto.apigateway.exceptions import ConflictException, NotFoundException

        api = self.get_rest_api(function_id)
        if path_part and parent_resource_id not in api.resources:
            missing = NotFoundException("Invalid Resource identifier specified")
            missing.code = 404
            raise missing
        if path_part and any(r.parent_id == parent_resource_id and r.path_part == path_part
                             for r in api.resources.values()):
            raise ConflictException(f"Another resource with the same parent already has this name: {path_part}")
        return create_resource(self, function_id, parent_resource_id, path_part)

    return wrapper


def _cascade(delete_resource):
    def wrapper(self, function_id, resource_id):
        api = self.get_rest_api(function_id)
        children = [r.id for r in api.resources.values() if r.parent_id == resource_id]
        for child in children:
            wrapper(self, function_id, child)
        return delete_resource(self, function_id, resource_id)

    return wrapper


def install() -> None:
    from moto.apigateway.models import APIGatewayBackend, RestAPI, Stage
    from moto.apigateway.responses import APIGatewayResponse

    add(APIGatewayResponse, "update_method", _update_method)
    wrap(RestAPI, "create_deployment", _keep_stage)
    wrap(RestAPI, "delete_deployment", _delete_deployment)
    wrap(RestAPI, "add_child", _resource_quota)
    wrap(Stage, "apply_operations", _remove_method_settings)
    wrap(APIGatewayBackend, "update_stage", _patch_size)
    wrap(APIGatewayBackend, "create_deployment", _deploy_rate)
    wrap(APIGatewayBackend, "delete_vpc_link", _delete_vpc_link)
    wrap(APIGatewayBackend, "create_resource", _unique_child)
    wrap(APIGatewayBackend, "delete_resource", _cascade)
