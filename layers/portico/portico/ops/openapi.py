"""`portico openapi` and `portico sdk`: the routes as an OpenAPI 3 document, and API Gateway's SDKs.

The document is built from portico's own view: the registry (service, auth, throttle, cache) and the
API's resources and methods as observed (what is actually routed), limited to what the stage's
deployment serves where API Gateway reports it (GetDeployment's API summary), one path pair per service:
`/orders` and `/orders/{proxy}` (API Gateway's greedy `{proxy+}`). Security schemes follow each
service's auth: an `x-api-key` header, SigV4 (IAM) or a Cognito bearer token.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ..desired import invoke_url
from ..errors import ProductError, error_code
from ..observed import read_resources
from ..registry import Registry
from ..spec import PROXY, route_paths
from ..state import StateTable
from . import check_stage

SDK_TYPES = ("javascript", "java", "android", "objectivec", "swift", "ruby")
VERBS = ("get", "post", "put", "patch", "delete", "head", "options")
SCHEMES = {
    "API_KEY": ("api_key", {"type": "apiKey", "name": "x-api-key", "in": "header"}),
    "IAM": ("sigv4", {"type": "apiKey", "name": "Authorization", "in": "header",
                      "x-amazon-apigateway-authtype": "awsSigv4"}),
    "COGNITO": ("cognito", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                            "description": "an ID or access token of the stack's Cognito user pool"}),
}


def _auth_of(method) -> str:
    if method.authorization == "AWS_IAM":
        return "IAM"
    if method.authorization == "COGNITO_USER_POOLS":
        return "COGNITO"
    return "API_KEY" if method.api_key_required else "NONE"


def deployed_summary(apigw, rest_api_id: str, stage: str) -> dict[str, dict[str, Any]] | None:
    """{path: {verb: ...}} of the deployment the stage serves (GetDeployment embed=apisummary), or None
    when the API does not report it."""
    try:
        dep_id = apigw.get_stage(restApiId=rest_api_id, stageName=stage).get("deploymentId")
        if not dep_id:
            return None
        return apigw.get_deployment(restApiId=rest_api_id, deploymentId=dep_id, embed=["apisummary"]).get("apiSummary")
    except ClientError:
        return None


def served(path: str, verb: str, summary: dict[str, dict[str, Any]] | None) -> bool:
    """Is (path, verb) in the stage's deployment? Without a summary, everything routed now counts."""
    return summary is None or verb in (summary.get(path) or {})


def _operation(service: str, verb: str, oas_path: str, proxy: bool, auth: str, item: dict[str, Any],
               used: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One method's operation; `used` collects the security scheme it names."""
    op: dict[str, Any] = {
        "tags": [service], "operationId": f"{service}{'Proxy' if proxy else ''}{verb.title()}",
        "summary": f"{service}: {verb} {oas_path}",
        "responses": {"default": {"description": f"the response of ECS service {service}"}},
    }
    if proxy:
        op["parameters"] = [{"name": "proxy", "in": "path", "required": True,
                             "description": "the rest of the path, passed to the service",
                             "schema": {"type": "string"}}]
    if auth in SCHEMES:
        name, scheme = SCHEMES[auth]
        used[name] = scheme
        op["security"] = [{name: []}]
    else:
        op["security"] = []
    extras = {k: item[k] for k in ("throttleRate", "throttleBurst", "cacheTtlSeconds") if k in item}
    if extras:
        op["x-portico"] = {k: float(v) if k == "throttleRate" else int(v) for k, v in extras.items()}
    return op


def _path_item(service: str, api_path: str, proxy: bool, methods: dict[str, Any], item: dict[str, Any],
               summary: dict[str, dict[str, Any]] | None, used: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The operations of one routed path that the stage serves; API Gateway's ANY becomes one per verb."""
    oas_path = api_path.replace(PROXY, "{proxy}")  # OpenAPI has no greedy variable
    ops: dict[str, Any] = {}
    for verb, method in sorted(methods.items()):
        if not served(api_path, verb, summary):  # routed now, not yet promoted to this stage
            continue
        op = _operation(service, verb, oas_path, proxy, _auth_of(method), item, used)
        for v in (VERBS if verb == "ANY" else (verb.lower(),)):
            ops[v] = {**op, "operationId": f"{service}{'Proxy' if proxy else ''}{v.title()}"}
    return ops


def document(clients, settings, stage: str) -> dict[str, Any]:
    check_stage(settings, stage)
    registry = Registry(clients.dynamodb, settings.registry_table).scan()
    ledgers = StateTable(clients.dynamodb, settings.state_table).snapshot().ledgers
    resources = read_resources(clients.apigateway, settings.rest_api_id)
    summary = deployed_summary(clients.apigateway, settings.rest_api_id, stage)
    paths: dict[str, Any] = {}
    used: dict[str, dict[str, Any]] = {}
    for service, ledger in sorted(ledgers.items()):
        if not ledger.path or ledger.path not in resources:
            continue
        item = registry.get(service) or {}
        for api_path, proxy in zip(route_paths(ledger.path), (False, True), strict=True):
            res = resources.get(api_path)
            ops = _path_item(service, api_path, proxy, res.methods, item, summary, used) if res is not None else {}
            if ops:
                paths[api_path.replace(PROXY, "{proxy}")] = ops
    return {
        "openapi": "3.0.3",
        "info": {"title": f"{settings.stack} ({stage})", "version": stage,
                 "description": "Routes served by portico: API Gateway → VPC link → NLB → ECS."},
        "servers": [{"url": invoke_url(settings.rest_api_id, clients.region, stage, "", settings.domain(stage))}],
        "paths": paths,
        "components": {"securitySchemes": dict(sorted(used.items()))},
    }


def sdk_parameters(lang: str, stack: str) -> dict[str, str]:
    """The parameters GetSdk requires per SDK type, derived from the stack name."""
    ident = "".join(c for c in stack.title() if c.isalnum()) or "Portico"
    package = "".join(c for c in stack.lower() if c.isalnum()) or "portico"
    return {
        "javascript": {},
        "java": {"serviceName": ident, "javaGroupId": f"com.{package}", "javaArtifactId": f"{package}-sdk",
                 "javaArtifactVersion": "1.0.0", "javaPackageName": f"com.{package}.sdk"},
        "android": {"groupId": f"com.{package}", "artifactId": f"{package}-sdk", "artifactVersion": "1.0.0",
                    "invokerPackage": f"com.{package}.sdk"},
        "objectivec": {"classPrefix": ident[:3].upper()},
        "swift": {"classPrefix": ident[:3].upper()},
        "ruby": {"service.name": ident, "ruby.gem-name": f"{package}-sdk", "ruby.gem-version": "1.0.0"},
    }[lang]


def generate_sdk(apigw, settings, stage: str, lang: str, out_dir: Path) -> list[Path]:
    """GetSdk for the stage; the zip is written to OUT_DIR and unpacked there. Returns the files written."""
    if lang not in SDK_TYPES:
        raise ProductError(f"--lang: {lang!r} is not an SDK type API Gateway generates ({', '.join(SDK_TYPES)})")
    check_stage(settings, stage)
    resp = apigw.get_sdk(restApiId=settings.rest_api_id, stageName=stage, sdkType=lang,
                         parameters=sdk_parameters(lang, settings.stack))
    body = resp["body"].read()
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / f"{settings.stack}-{stage}-{lang}-sdk.zip"
    archive.write_bytes(body)
    written = [archive]
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        for name in z.namelist():
            target = (out_dir / name).resolve()
            if not str(target).startswith(str(out_dir.resolve())):  # no path traversal from the archive
                raise ProductError(f"GetSdk returned an archive entry outside the output folder: {name}")
        z.extractall(out_dir)
        written += [out_dir / n for n in z.namelist() if not n.endswith("/")]
    return written


def sdk_unsupported(exc: ClientError) -> bool:
    """The API answered that GetSdk does not exist (the local emulator), not that the request was wrong."""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status in (404, 500, 501) and error_code(exc) not in ("NotFoundException", "BadRequestException")
