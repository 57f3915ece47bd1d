"""API Gateway operations the local AWS (moto) lacks or gets wrong and portico relies on, added faithfully.

- UpdateMethod: moto answers "not implemented"; AWS applies JSON-patch operations to the
  method. Supported here: replace /authorizationType, /apiKeyRequired, /authorizerId,
  /authorizationScopes, /operationName, /requestValidatorId (what portico and most tools patch).
- CreateDeployment to an existing stage: moto replaces the stage (its method settings,
  cache cluster and description are lost); AWS only points the stage at the new deployment.
- UpdateStage `remove /{resource_path}/{http_method}`: moto ignores it; AWS drops that
  method-settings override.

"""

from __future__ import annotations

import json


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


def _keep_stage(create_deployment):
    def wrapper(self, name, description, stage_variables=None):
        existing = self.stages.get(name) if name else None
        deployment = create_deployment(self, name, description, stage_variables)
        if existing is not None:
            existing.deployment_id = deployment.id
            existing.variables = {**existing.variables, **(stage_variables or {})}
            self.stages[name] = existing
        return deployment

    wrapper.portico = True
    return wrapper


def _remove_method_settings(apply_operations):
    def wrapper(self, patch_operations):
        rest = []
        for op in patch_operations:
            parts = op.get("path", "").split("/")
            if op.get("op") == "remove" and len(parts) == 3 and parts[0] == "":
                self.method_settings.pop(f"{parts[1]}/{parts[2]}", None)
            else:
                rest.append(op)
        return apply_operations(self, rest)

    wrapper.portico = True
    return wrapper


def install() -> None:
    from moto.apigateway.models import RestAPI, Stage
    from moto.apigateway.responses import APIGatewayResponse

    if not hasattr(APIGatewayResponse, "update_method"):
        APIGatewayResponse.update_method = _update_method
    if not getattr(RestAPI.create_deployment, "portico", False):
        RestAPI.create_deployment = _keep_stage(RestAPI.create_deployment)
    if not getattr(Stage.apply_operations, "portico", False):
        Stage.apply_operations = _remove_method_settings(Stage.apply_operations)
