"""Batched route import: the pass's new API routes written with one `PutRestApi` (mode=merge) instead of
`CreateResource` + `PutMethod` + `PutIntegration` per resource, when that is fewer calls (docs/import.md).

The planner folds a service's API steps into the one `import_routes` step only when they only create or
replace its own routes (its reserved path and `{proxy+}`), need no intermediate resource, use no
authorizer (COGNITO stays per resource: an import never defines or changes an authorizer). A VPC link v2
integration's load balancer goes in the extension's `integrationTarget` ("The ALB or NLB listener to send the
request to. Supported only for private integrations that use VPC links V2", the x-amazon-apigateway-integration
object's page, listed in its Chinese version, https://docs.amazonaws.cn/apigateway/latest/developerguide/api-gateway-swagger-extensions-integration.html;
PutIntegration's `integrationTarget` is "The ALB or NLB ARN", which is what portico writes), so v2 stacks batch as
v1 stacks do; ALB mode's static service header is a request parameter like `{proxy}`'s. Applying it:
validate every route, import (≤ 1 call per second, ≤ 5 MB per document), on a refusal drop the services
whose paths AWS names or else bisect, so one bad route fails only its own service; then read the ids back
with one paginated GetResources, record them in the ledgers and check every method and integration against
the desired state before the service may be READY. The API's own fields are compared before and after.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..context import ApplyContext
from ..desired import DesiredService, MethodSpec
from ..errors import QUOTA_CODES, error_code, error_text, is_transient
from ..observed import read_resources
from ..settings import Settings
from ..spec import PROXY
from ..steps import Step
from .api import integration_differs

FOLDED = {"create_resource", "put_method", "put_integration"}
# Per resource, a pass of up to 5 new resources (two services) goes through CreateResource's burst (5 per
# second) without waiting and keeps each service's calls its own; past it, each 5 resources cost a second,
# and one import (one call per second at most) costs less in calls and in time.
CREATE_RESOURCE_BURST = 5
MAX_DOCUMENT = 5 * 1024 * 1024  # AWS takes up to 6 MB; keep a margin
PUT_REST_API_INTERVAL = 1.0  # PutRestApi: 1 request per second per account, not adjustable
API_FIELDS = ("name", "description", "apiKeySource", "binaryMediaTypes", "endpointConfiguration", "policy",
              "minimumCompressionSize", "disableExecuteApiEndpoint")
NAMED_PATH = re.compile(r"at path '([^']*)'")


def fold(steps: list[Step], desired: Mapping[str, DesiredService]) -> list[Step]:
    """`steps` with the eligible services' route creation folded into one import when the per-resource path would
    wait on the CreateResource quota (the plan shows `import_routes` with the number of per-resource calls it
    replaces); `steps` as they are otherwise."""
    by_service: dict[str, list[Step]] = {}
    for st in steps:
        if st.service in desired and (st.action in FOLDED or st.action in _API_OTHER):
            by_service.setdefault(st.service, []).append(st)
    folded = {s: mine for s, mine in by_service.items() if _eligible(desired[s], mine)}
    replaced = sum(len(v) for v in folded.values())
    creates = sum(st.action == "create_resource" for mine in folded.values() for st in mine)
    if creates <= CREATE_RESOURCE_BURST:
        return steps
    gone = {id(st) for mine in folded.values() for st in mine}
    return [st for st in steps if id(st) not in gone] + [Step("import_routes", "*", {
        "replaces": replaced, "services": {s: _routes(desired[s]) for s in sorted(folded)}})]


_API_OTHER = {"update_method", "delete_method", "delete_resource"}


def _eligible(d, steps: list[Step]) -> bool:
    """Only creations of the service's own routes, no intermediate resource, no authorizer and no cache key (a
    cached proxy route's `cacheKeyParameters` are written per resource)."""
    methods = [m for ms in d.resources.values() for m in ms.values()]
    return (all(st.action in FOLDED and not st.params.get("intermediate") for st in steps)
            and not any(m.authorizer_id or m.cache_key_parameters() for m in methods))


def _routes(d) -> list[dict[str, Any]]:
    out = []
    for path, methods in sorted(d.resources.items()):
        for verb, m in sorted(methods.items()):
            r = {"path": path, "httpMethod": verb, "authorizationType": m.authorization,
                 "apiKeyRequired": m.api_key_required, "uri": m.uri, "connectionId": m.connection_id, "proxy": m.proxy}
            r.update({k: v for k, v in (("integrationTarget", m.integration_target),
                                        ("serviceHeader", m.service_header)) if v})
            out.append(r)
    return out


def _spec(r: dict[str, Any]) -> MethodSpec:
    return MethodSpec(r["authorizationType"], r["apiKeyRequired"], None, r["uri"], r["connectionId"], r["proxy"],
                      integration_target=r.get("integrationTarget"), service_header=r.get("serviceHeader"))


# -- the document ----------------------------------------------------------------------------------------
def _operation(r: dict[str, Any]) -> dict[str, Any]:
    integration: dict[str, Any] = {
        "type": "http_proxy", "httpMethod": r["httpMethod"], "uri": r["uri"], "connectionType": "VPC_LINK",
        "connectionId": r["connectionId"], "passthroughBehavior": "when_no_match", "timeoutInMillis": 29000}
    if r.get("integrationTarget"):
        integration["integrationTarget"] = r["integrationTarget"]
    if mapped := _spec(r).integration_request_parameters():
        integration["requestParameters"] = mapped
    op: dict[str, Any] = {"responses": {}, "x-amazon-apigateway-integration": integration}
    if r["proxy"]:
        op["parameters"] = [{"name": "proxy", "in": "path", "required": True, "schema": {"type": "string"}}]
    if r["apiKeyRequired"]:
        op["security"] = [{"api_key": []}]
    if r["authorizationType"] == "AWS_IAM":
        op["x-amazon-apigateway-auth"] = {"type": "AWS_IAM"}
    return op


def document(title: str, services: dict[str, list[dict[str, Any]]]) -> bytes:
    """OpenAPI 3 with only the services' own paths; no API-level field beyond the API's current name."""
    paths: dict[str, dict[str, Any]] = {}
    for routes in services.values():
        for r in routes:
            key = "x-amazon-apigateway-any-method" if r["httpMethod"] == "ANY" else r["httpMethod"].lower()
            paths.setdefault(r["path"], {})[key] = _operation(r)
    return json.dumps({"openapi": "3.0.1", "info": {"title": title, "version": "portico"}, "paths": paths,
                       "components": {"securitySchemes": {
                           "api_key": {"type": "apiKey", "name": "x-api-key", "in": "header"}}}},
                      sort_keys=True).encode()


def _invalid(routes: list[dict[str, Any]], settings: Settings) -> str | None:
    for r in routes:
        if r["connectionId"] not in (*settings.vpc_link_ids, settings.vpc_link_v2_id) or not r["connectionId"]:
            return f"route {r['path']}: VPC link {r['connectionId']} is not one of the stack's"
        if (r["connectionId"] == settings.vpc_link_v2_id) != bool(r.get("integrationTarget")):
            return f"route {r['path']}: integrationTarget is for a VPC link v2 and only for it"
        if not re.match(r"^http://[A-Za-z0-9.-]+:\d+/", r["uri"]):
            return f"route {r['path']}: integration URI {r['uri']} is not http://host:port/"
    return None


# -- apply -----------------------------------------------------------------------------------------------
class _Importer:
    def __init__(self, ctx: ApplyContext, title: str):
        self.ctx, self.title, self.last = ctx, title, None
        self.refused: str | None = None  # a quota's answer: every later document of the pass would get it too

    def put(self, services: dict[str, list[dict[str, Any]]]) -> None:
        ctx = self.ctx
        if self.last is not None:
            wait = self.last + PUT_REST_API_INTERVAL - ctx.clock()
            if wait > 0:
                ctx.sleep(wait)
        try:
            ctx.clients.apigateway.put_rest_api(restApiId=ctx.settings.rest_api_id, mode="merge",
                                                failOnWarnings=True, body=document(self.title, services))
        finally:
            self.last = ctx.clock()

    def run(self, services: dict[str, list[dict[str, Any]]]) -> set[str]:
        """Import `services`; those AWS refuses end FAILED with its message. Returns the ones imported."""
        if not services:
            return set()
        if self.refused:
            self.ctx.result.failed.update(dict.fromkeys(services, self.refused))
            return set()
        try:
            self.put(services)
            return set(services)
        except (ClientError, BotoCoreError) as exc:
            if is_transient(exc):
                for s in services:
                    self.ctx.result.retry[s] = f"import routes failed: {error_text(exc)}"
                return set()
            if error_code(exc) in QUOTA_CODES:  # not a bad route: bisecting would only ask again and again
                self.refused = (f"import routes failed: {error_text(exc)}; the planner counted room for them under "
                                f"ResourcesPerApi ({self.ctx.settings.resources_per_api}): set it to the API's quota")
                self.ctx.result.failed.update(dict.fromkeys(services, self.refused))
                return set()
            named = set(NAMED_PATH.findall(exc.response["Error"].get("Message", ""))) \
                if isinstance(exc, ClientError) else set()
            bad = {s for s, routes in services.items() if any(r["path"] in named for r in routes)}
            if not bad and len(services) == 1:
                bad = set(services)
            text = error_text(exc)
            for s in bad:  # the lines of AWS's message about this service's own paths
                mine = [ln.strip() for ln in text.split("\n") if any(f"'{r['path']}'" in ln for r in services[s])]
                self.ctx.result.failed[s] = "import routes failed: " + (" ".join(mine) if mine else text)
            rest = {s: r for s, r in services.items() if s not in bad}
            if bad:
                return self.run(rest)
            names = sorted(rest)
            half = len(names) // 2  # AWS named no path: bisect
            return self.run({s: rest[s] for s in names[:half]}) | self.run({s: rest[s] for s in names[half:]})


def _chunks(title: str, services: dict[str, list[dict[str, Any]]]) -> list[dict[str, list[dict[str, Any]]]]:
    """The services in order, as few to a document as fit MAX_DOCUMENT. A document's length is its frame plus
    each service's own paths plus json.dumps' ", " between two services' paths (every service has paths of its
    own), so it is summed as services join, each serialized once: linear in the number of services."""
    frame = len(document(title, {}))
    out: list[dict[str, list[dict[str, Any]]]] = [{}]
    size = frame
    for s, routes in services.items():
        own = len(document(title, {s: routes})) - frame
        if out[-1] and size + 2 + own > MAX_DOCUMENT:
            out.append({})
            size = frame
        size += own + (2 if out[-1] else 0)
        out[-1][s] = routes
    return out


def _api_fields(ctx: ApplyContext) -> dict[str, Any]:
    api = ctx.clients.apigateway.get_rest_api(restApiId=ctx.settings.rest_api_id)
    return {k: api.get(k) for k in API_FIELDS}


def import_routes(step: Step, ctx: ApplyContext) -> None:
    result = ctx.result
    services: dict[str, list[dict[str, Any]]] = {}
    for s, routes in step.params["services"].items():
        ledger = ctx.ledger(s)
        if s in result.stopped():
            continue
        if not ledger.path or any(r["path"] not in (ledger.path, f"{ledger.path}/{PROXY}") for r in routes):
            result.failed[s] = "import routes failed: a route outside the service's reserved path"
            continue
        if (why := _invalid(routes, ctx.settings)) is not None:
            result.failed[s] = f"import routes failed: {why}"
            continue
        services[s] = routes
    if not services:
        return
    before = _api_fields(ctx)
    importer = _Importer(ctx, before.get("name") or "portico")
    done: set[str] = set()
    for chunk in _chunks(importer.title, services):
        done |= importer.run(chunk)
    if not done:
        return
    after = _api_fields(ctx)
    if after != before:
        changed = sorted(k for k in API_FIELDS if before.get(k) != after.get(k))
        result.errors.append(f"import routes changed API-level fields {changed}; set them back on the API")
    observed = read_resources(ctx.clients.apigateway, ctx.settings.rest_api_id)  # one paginated read
    for s in sorted(done):
        wrong = [f"{r['httpMethod']} {r['path']}" for r in services[s] if not _matches(r, observed)]
        for r in services[s]:
            if r["path"] in observed:
                ctx.resource_ids[r["path"]] = observed[r["path"]].id
                ctx.ledger(s).resources[r["path"]] = observed[r["path"]].id
        if wrong:
            result.retry[s] = f"import routes: {', '.join(wrong)} not as desired after the import; the next " \
                              "pass writes them per resource"


def _matches(r: dict[str, Any], observed) -> bool:
    res = observed.get(r["path"])
    method = res.methods.get(r["httpMethod"]) if res else None
    if method is None:
        return False
    m = _spec(r)
    return ((method.authorization, method.api_key_required, method.authorizer_id or None)
            == (m.authorization, m.api_key_required, None)
            and not integration_differs(m, r["httpMethod"], method.integration)
            and method.integration.get("connectionId") == r["connectionId"])


APPLY = {"import_routes": import_routes}
