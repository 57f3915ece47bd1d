"""API Gateway's import-to-update (`PutRestApi` mode=merge) and what it writes, as AWS does it (docs/import.md).

moto's merge drops `connectionId` and `security`, makes a method called `X-AMAZON-APIGATEWAY-ANY-METHOD`,
creates every resource again on each import, leaves half an import behind when one route fails, and
`GetResources` ignores `limit`/`position`. Here:

- The whole document is validated first; an error fails the call with AWS's message naming the method and
  path ("Errors found during import:\\n\\tUnable to put integration on 'ANY' for resource at path '/x': …")
  and changes nothing. Warnings roll back too when `failonwarnings=true`, else come back in `warnings`.
- A path reuses the resources that exist and creates the missing ones (through CreateResource, so its rules
  apply); a method in the document replaces that method whole (auth, API key, request parameters,
  integration); other methods and resources are left alone; the API's own fields are not touched.
- `x-amazon-apigateway-any-method` is `ANY`; `security` (`api_key`, an existing authorizer by name,
  `awsSigv4`) and `x-amazon-apigateway-auth` set the method's auth; `connectionType`/`connectionId`,
  `requestParameters`, `timeoutInMillis`, `passthroughBehavior` reach the integration, and so does
  `integrationTarget` (a VPC link V2's load balancer, checked by PutIntegration's rules in vpclink.py).
- Integrations keep `connectionId` (PutIntegration too), and GetResources pages by `limit` (1–500,
  default 25) and `position`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from . import replace, wrap
from .vpclink import _is_v2_link, check_target

MAX_BODY = 6 * 1024 * 1024  # "The maximum size of the API definition file is 6MB" (ImportRestApi/PutRestApi)
VERBS = ("get", "put", "post", "delete", "options", "head", "patch")
ANY = "x-amazon-apigateway-any-method"
PATH_ITEM_FIELDS = {"parameters", "summary", "description", "servers", "$ref"}
PATH_PART = re.compile(r"^\{?[a-zA-Z0-9._\-:]+\+?\}?$")  # CreateResource's rule
PATH_PART_RULE = ("Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end "
                  "and an optional plus sign before the closing brace.")
PARAM_IN = {"path": "path", "query": "querystring", "header": "header"}


def _bad_request(message: str):
    from moto.apigateway.exceptions import BadRequestException

    return BadRequestException(message)


class _Route:
    """One operation of the document, validated: everything needed to write the method."""

    def __init__(self, path: str, verb: str, op: dict[str, Any], item: dict[str, Any], doc: dict[str, Any],
                 api, backend, errors: list[str], warnings: list[str]):
        self.path, self.verb = path, verb
        where = f"'{verb}' for resource at path '{path}'"
        self.auth, self.authorizer_id, self.api_key = "NONE", None, False
        self._security(op, doc, api, where, errors, warnings)
        self.params: dict[str, bool] = {}
        for p in [*(item.get("parameters") or []), *(op.get("parameters") or [])]:
            if p.get("in") in PARAM_IN:
                self.params[f"method.request.{PARAM_IN[p['in']]}.{p['name']}"] = bool(p.get("required"))
        for part in path.split("/"):  # a non-greedy path variable is declared by the path itself
            if part.startswith("{") and not part.endswith("+}"):
                self.params.setdefault(f"method.request.path.{part.strip('{}')}", True)
        self.integration = op.get("x-amazon-apigateway-integration")
        if self.integration is not None:
            errors += [f"Unable to put integration on {where}: {problem}" for problem in self._integration_problems(
                backend)]

    def _security(self, op, doc, api, where: str, errors: list[str], warnings: list[str]) -> None:
        """The method's authorization and API key, from the security schemes its requirements name."""
        schemes = (doc.get("components") or {}).get("securitySchemes") or doc.get("securityDefinitions") or {}
        for requirement in op.get("security", doc.get("security")) or []:
            for name in requirement:
                scheme = schemes.get(name)
                if scheme is None:
                    warnings.append(f"Parse issue: security scheme '{name}' of {self.verb} {self.path} is not defined")
                elif scheme.get("x-amazon-apigateway-authorizer"):
                    found = [a for a in api.authorizers.values() if a.name == name]
                    if not found:  # AWS would define it; this local AWS only refers to existing authorizers
                        errors.append(f"Unable to put method {where}: authorizer '{name}' does not exist "
                                      "(the local AWS does not create authorizers from an import)")
                        continue
                    self.authorizer_id = found[0].id
                    self.auth = "COGNITO_USER_POOLS" if found[0].type == "COGNITO_USER_POOLS" else "CUSTOM"
                elif (scheme.get("x-amazon-apigateway-authtype") or "").lower() == "awssigv4":
                    self.auth = "AWS_IAM"
                elif scheme.get("type") == "apiKey" and scheme.get("in") == "header" \
                        and scheme.get("name", "").lower() == "x-api-key":
                    self.api_key = True
        if isinstance(op.get("x-amazon-apigateway-auth"), dict):
            self.auth = str(op["x-amazon-apigateway-auth"].get("type", "NONE")).upper()

    def _integration_problems(self, backend) -> list[str]:
        """What PutIntegration would refuse in the operation's x-amazon-apigateway-integration."""
        from moto.apigateway.exceptions import BadRequestException

        i, problems = self.integration, []
        kind = str(i.get("type", "")).upper()
        if kind not in ("HTTP", "HTTP_PROXY", "AWS", "AWS_PROXY", "MOCK"):
            problems.append(f"Invalid integration type specified: '{kind}'")
        if kind in ("HTTP", "HTTP_PROXY") and not re.match(r"^https?://[^/\s:]+", str(i.get("uri", ""))):
            problems.append("Invalid HTTP endpoint specified for URI")
        if str(i.get("connectionType", "")).upper() == "VPC_LINK":
            link = str(i.get("connectionId") or "")
            if not link.startswith("${stageVariables.") and link not in backend.vpc_links \
                    and not _is_v2_link(backend.account_id, backend.region_name, link):
                problems.append(f"Invalid VPC link ID specified: '{link}'")
        try:  # integrationTarget: the same rules as PutIntegration's (vpclink.py)
            check_target(backend.account_id, backend.region_name, i.get("connectionType"), i.get("connectionId"),
                         i.get("integrationTarget"))
        except BadRequestException as exc:
            problems.append(exc.message)
        for value in (i.get("requestParameters") or {}).values():
            if isinstance(value, str) and value.startswith("method.request.") and value not in self.params:
                problems.append("Invalid mapping expression specified: Validation Result: warnings : [], errors : "
                                f"[Invalid mapping expression parameter specified: {value}]")
        return problems


def _routes(doc: dict[str, Any], api, backend) -> tuple[list[_Route], list[str], list[str]]:
    routes, errors, warnings = [], [], []
    for path, item in (doc.get("paths") or {}).items():
        parts = path.split("/")[1:]
        bad = not path.startswith("/") or (path != "/" and not all(PATH_PART.match(p) for p in parts))
        if bad or any(p.endswith("+}") for p in parts[:-1]):
            errors.append(f"Unable to create resource at path '{path}': {PATH_PART_RULE}")
            continue
        for key, op in (item or {}).items():
            verb = "ANY" if key == ANY else key.upper() if key in VERBS else None
            if verb is not None and isinstance(op, dict):
                routes.append(_Route(path, verb, op, item, doc, api, backend, errors, warnings))
            elif key not in PATH_ITEM_FIELDS and not key.startswith("x-"):
                warnings.append(f"Parse issue: attribute paths.'{path}'.{key} is unexpected")
    return routes, errors, warnings


def _resource(backend, api, path: str, journal: list) -> Any:
    """The resource at `path`, creating the missing segments (CreateResource's own rules apply)."""
    node = api.get_resource_for_path("/")
    so_far = ""
    for part in [p for p in path.split("/") if p]:
        so_far += "/" + part
        child = next((r for r in api.resources.values() if r.parent_id == node.id and r.path_part == part), None)
        if child is None:
            child = backend.create_resource(api.id, node.id, part)
            journal.append(("resource", child.id, None))
        node = child
    return node


def _write(backend, api, route: _Route, journal: list) -> None:
    res = _resource(backend, api, route.path, journal)
    journal.append(("method", res, (route.verb, res.resource_methods.get(route.verb))))
    method = res.add_method(route.verb, route.auth, route.api_key, request_parameters=route.params or None,
                            authorizer_id=route.authorizer_id)
    method.create_response("200", None, None)
    i = route.integration
    if i is None:
        return
    integration = res.add_integration(
        route.verb, str(i["type"]).upper(), i.get("uri", ""),
        integration_method=str(i.get("httpMethod") or route.verb).upper(),
        passthrough_behavior=str(i.get("passthroughBehavior", "WHEN_NO_MATCH")).upper(),
        timeout_in_millis=i.get("timeoutInMillis", 29000), request_parameters=i.get("requestParameters"),
        request_templates=i.get("requestTemplates"), cache_namespace=res.id,
        connection_type=str(i.get("connectionType", "INTERNET")).upper())
    integration.connection_id = i.get("connectionId")
    integration.integration_target = i.get("integrationTarget")


def _merge(put_rest_api):
    def wrapper(self, function_id, api_doc, fail_on_warnings, mode="merge"):
        if mode != "merge":
            return put_rest_api(self, function_id, api_doc, fail_on_warnings, mode)
        api = self.get_rest_api(function_id)
        routes, errors, warnings = _routes(api_doc, api, self)
        if errors:
            raise _bad_request("Errors found during import:\n\t" + "\n\t".join(errors))
        if warnings and fail_on_warnings:
            raise _bad_request("Warnings found during import:\n\t" + "\n\t".join(warnings))
        journal: list = []
        try:
            for route in routes:
                _write(self, api, route, journal)
        except Exception:
            for kind, target, old in reversed(journal):  # "no change is made to the existing API"
                if kind == "resource":
                    api.resources.pop(target, None)
                elif old[1] is None:
                    target.resource_methods.pop(old[0], None)
                else:
                    target.resource_methods[old[0]] = old[1]
            raise
        api.import_warnings = warnings
        return api

    return wrapper


def _put_rest_api_response(handler):
    def wrapper(self):
        if len(self.body or b"") > MAX_BODY:
            raise _bad_request("The API definition file exceeds the maximum size of 6MB")
        status, headers, body = handler(self)
        api = self.backend.get_rest_api(self.path.replace("/restapis/", "", 1).split("/")[0])
        warnings = getattr(api, "import_warnings", None)
        if warnings:
            body = json.dumps({**json.loads(body), "warnings": warnings})
            api.import_warnings = None
        return status, headers, body

    return wrapper


def _keep_connection_id(handler):
    """PutIntegration: moto reads connectionType but drops connectionId."""
    def wrapper(self):
        status, headers, body = handler(self)
        parts = self.path.split("/")
        integration = self.backend.get_integration(parts[2], parts[4], parts[6])
        integration.connection_id = self._get_param("connectionId")
        return status, headers, json.dumps(integration.to_json())

    return wrapper


def _integration_json(to_json):
    def wrapper(self):
        out = to_json(self)
        if getattr(self, "connection_id", None):
            out["connectionId"] = self.connection_id
        return out

    return wrapper


def _paged_resources(self):  # bound as APIGatewayResponse.get_resources
    function_id = self.path.replace("/restapis/", "", 1).split("/")[0]
    limit = int(self._get_param("limit") or 25)
    if not 1 <= limit <= 500:
        raise _bad_request(f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                           "constraint: Member must have value between 1 and 500")
    resources = self.backend.get_resources(function_id)
    ids = [r.id for r in resources]
    position = self._get_param("position")
    start = ids.index(position) if position in ids else 0
    page = resources[start:start + limit]
    out: dict[str, Any] = {"item": [r.to_dict() for r in page]}
    if start + limit < len(resources):
        out["position"] = ids[start + limit]
    return json.dumps(out)


def install() -> None:
    from moto.apigateway.models import APIGatewayBackend, Integration
    from moto.apigateway.responses import APIGatewayResponse

    wrap(APIGatewayBackend, "put_rest_api", _merge)
    wrap(APIGatewayResponse, "put_rest_api", _put_rest_api_response)
    wrap(APIGatewayResponse, "put_integration", _keep_connection_id)
    wrap(Integration, "to_json", _integration_json)
    replace(APIGatewayResponse, "get_resources", _paged_resources)
