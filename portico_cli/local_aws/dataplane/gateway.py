"""The local API Gateway: serves each deployed stage of the REST API at http://127.0.0.1:PORT/{stage}{path}.

Per request, in API Gateway's order: the route (the most specific deployed resource: literal segments over
`{param}` over `{proxy+}`; the verb, else ANY), the method's authorization (AWS_IAM, COGNITO_USER_POOLS), the
API key (`apiKeyRequired`: an enabled key in a usage plan bound to the stage), usage-plan throttle and quota,
stage/method throttling, the stage cache (GET), then the HTTP_PROXY integration over the VPC link to the NLB
listener of the integration's uri. Errors answer with the default gateway responses
(https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html):
`{"message": ...}` and `x-amzn-ErrorType`. docs/dataplane.md lists what is and is not implemented.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import secrets
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import domains
from .auth import Denied, check_cognito, check_sigv4
from .controlplane import Method, Plan, Snapshot, Stage

ACCOUNT_RATE, ACCOUNT_BURST = 10000.0, 5000  # account-level throttle when nothing narrower is set
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "host", "content-length"}
# Headers on a proxy integration, as recorded on AWS for HTTP and HTTP_PROXY integrations (LocalStack's
# tests/aws/services/apigateway/test_apigateway_integrations.snapshot.json, TestApiGatewayHeaderRemapping,
# 2024-12-11): these request headers do not reach the backend, which gets X-Amzn-Apigateway-Api-Id instead;
# these response headers of the backend reach the client renamed x-amzn-Remapped-<name> (API Gateway sends its
# own Date, Content-Length, Connection and x-amzn-RequestId; test_apigateway_http.snapshot.json has a backend's
# x-amzn-RequestId remapped too), Transfer-Encoding and Keep-Alive not at all.
NOT_FORWARDED = {"content-md5", "expect", "max-forwards", "server", "via", "www-authenticate"}
REMAPPED = {"authorization", "connection", "content-length", "content-md5", "date", "expect", "host", "max-forwards",
            "proxy-authenticate", "server", "trailer", "upgrade", "user-agent", "www-authenticate", "x-amzn-requestid"}
NOT_RETURNED = {"transfer-encoding", "keep-alive", "content-encoding"}  # content-encoding: the body comes decoded
CACHE_MAX_BYTES = 1_048_576  # the largest response API Gateway caches
PAYLOAD_MAX_BYTES = 10 * 1024 * 1024  # REST API payload quota
MISSING_TOKEN = Denied(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
FORBIDDEN = Denied(403, "ForbiddenException", "Forbidden")
THROTTLED = Denied(429, "TooManyRequestsException", "Too Many Requests")
QUOTA = Denied(429, "LimitExceededException", "Limit Exceeded")
FAILURE = Denied(504, "InternalServerErrorException", "Internal server error")  # INTEGRATION_FAILURE
TIMEOUT = Denied(504, "InternalServerErrorException", "Endpoint request timed out")  # INTEGRATION_TIMEOUT
TOO_LARGE = Denied(413, "RequestTooLargeException", "Request Too Long")  # REQUEST_TOO_LARGE
CONFIG_ERROR = Denied(500, "InternalServerErrorException", "Internal server error")  # API_CONFIGURATION_ERROR
# "Length, in characters, of the URL for a regional API: 10240", not adjustable (API Gateway's "Quotas for
# configuring and running a REST API"). AWS documents no status for a longer URL; its limits page answers
# "414 Request URI too long" where an authorized method's ARN outgrows 1,600 bytes, so a URL past the quota
# gets that status here, in API Gateway's JSON error shape.
URL_MAX_CHARS = 10240
log = logging.getLogger(__name__)
URI_TOO_LONG = Denied(414, "RequestUriTooLongException", "Request URI too long")


class Bucket:
    """A token bucket: `burst` requests at once, refilled at `rate` per second (API Gateway's throttle)."""

    def __init__(self, rate: float, burst: int):
        self.rate, self.burst, self.tokens, self.at = rate, burst, float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def setting_key(resource_path: str, verb: str) -> str:
    """A stage's method-settings key, as AWS applies it: `/orders/{proxy+}` GET -> `~1orders~1{proxy+}/GET`
    (every '/' escaped, the leading one included; kinds/stage.py cites the sources). A key in another form is
    stored by UpdateStage, as on AWS, and applies to no method."""
    return f"{resource_path.replace('/', '~1')}/{verb}"


def match(routes: dict[str, dict[str, Method]], path: str) -> tuple[str, dict[str, str]] | None:
    """The deployed resource a request path selects, and its path parameters."""
    spans = [(m.start(), m.group()) for m in re.finditer(r"[^/]+", path)]
    segs = [s for _, s in spans]
    best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
    for rpath in routes:
        rsegs = [s for s in rpath.split("/") if s]
        params: dict[str, str] = {}
        score: list[int] = []
        for i, rs in enumerate(rsegs):
            if rs.startswith("{") and rs.endswith("+}"):
                if i >= len(segs) or i != len(rsegs) - 1:
                    break
                # the rest of the path as sent, empty segments kept (a//b), as a recording on AWS shows
                # ("proxy-value//double-slash": LocalStack's test_apigateway_lambda.snapshot.json)
                params[rs[1:-2]] = path[spans[i][0]:]
                score.append(0)
                break
            if i >= len(segs) or not (rs.startswith("{") or rs == segs[i]):
                break
            if rs.startswith("{"):
                params[rs[1:-1]] = segs[i]
            score.append(1 if rs.startswith("{") else 2)
        else:
            if len(rsegs) != len(segs):
                continue
        if len(score) != len(rsegs):
            continue
        if best is None or tuple(score) > best[0]:
            best = (tuple(score), rpath, params)
    return (best[1], best[2]) if best else None


@dataclass
class Sample:
    stage: str
    resource: str | None
    method: str | None
    status: int
    latency_ms: float
    integration_ms: float | None
    detailed: bool


@dataclass
class Gateway:
    """The ASGI app (`app`) and what it keeps between requests: buckets, quota counters, cache, metrics."""

    local_port: Any  # (listener ARN) -> loopback port of the local NLB listener, or None
    jwks: Any  # (user pool id) -> JWKS document
    secrets: dict[str, str]
    target_port: Any = None  # (target group ARN) -> loopback port of one routable target (ALB mode), or None
    snapshot: Snapshot = field(default_factory=Snapshot)
    buckets: dict[tuple, Bucket] = field(default_factory=dict)
    quotas: dict[tuple, int] = field(default_factory=lambda: defaultdict(int))
    cache: dict[tuple, tuple[float, int, list, bytes]] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(trust_env=False, timeout=29.0))

    async def app(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        started = time.perf_counter()
        request_id, extended_id = str(uuid.uuid4()), secrets.token_urlsafe(12)[:16]
        trace = request.headers.get("x-amzn-trace-id") or f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"
        raw = request.scope.get("raw_path", b"") + (b"?" + request.scope["query_string"]
                                                      if request.scope.get("query_string") else b"")
        if len(raw) > URL_MAX_CHARS:
            response, sample = _error(URI_TOO_LONG), None
        else:
            try:
                response, sample = await self.handle(request, trace)
            except Exception:  # never a plain-text 500: API Gateway answers its JSON 500 whatever failed
                log.exception("local gateway: %s %s failed", request.method, request.url.path[:200])
                response, sample = _error(CONFIG_ERROR), None
        response.headers.update({"x-amzn-RequestId": request_id, "x-amz-apigw-id": extended_id})
        if "x-amzn-errortype" not in response.headers:  # a gateway error carries no X-Amzn-Trace-Id (recorded)
            response.headers["X-Amzn-Trace-Id"] = trace
        if sample is not None:
            sample.latency_ms = (time.perf_counter() - started) * 1000
            self.samples.append(sample)
        await response(scope, receive, send)

    async def handle(self, request: Request, trace: str) -> tuple[Response, Sample | None]:
        snap = self.snapshot
        raw_path = request.scope.get("raw_path", b"").decode() or request.url.path
        routed = domains.route(snap, request.headers, raw_path)  # by a custom domain's Host, else /{stage}
        if routed is None:
            return _error(FORBIDDEN), None
        stage_name, rest = routed
        stage = snap.stages.get(stage_name)
        if stage is None:
            return _error(MISSING_TOKEN), None
        sample = Sample(stage.name, None, None, 0, 0.0, None, False)
        found = match(stage.routes, "/" + rest)
        methods = stage.routes.get(found[0], {}) if found else {}
        method = methods.get(request.method) or methods.get("ANY")
        if found is None or method is None:
            sample.status = 403
            return _error(MISSING_TOKEN), sample
        resource, params = found
        settings = _settings(stage, resource, method.verb, request.method)
        sample.resource, sample.method = resource, method.verb
        sample.detailed = bool(settings.get("metricsEnabled"))
        body = await request.body()
        denied = TOO_LARGE if len(body) > PAYLOAD_MAX_BYTES else self._authorize(request, method, body)
        if denied is None:
            denied = self._admit(request, stage, resource, method, settings)
        if denied is not None:
            sample.status = denied.status
            return _error(denied), sample
        cache_key = None
        if (request.method == "GET" and stage.cache_enabled and settings.get("cachingEnabled")
                and int(settings.get("cacheTtlInSeconds", 300)) > 0):
            cache_key = self._cache_key(stage, resource, method, params, request)
            hit = self.cache.get(cache_key)
            if hit and hit[0] > time.monotonic():
                sample.status = hit[1]
                return Response(hit[3], status_code=hit[1], headers=dict(hit[2])), sample
        t0 = time.perf_counter()
        response = await self._integrate(request, method, params, body, trace, stage.name)
        sample.integration_ms = (time.perf_counter() - t0) * 1000
        sample.status = response.status_code
        if cache_key and 200 <= response.status_code < 300 and len(response.body) <= CACHE_MAX_BYTES:
            ttl = int(settings.get("cacheTtlInSeconds", 300))
            self.cache[cache_key] = (time.monotonic() + ttl, response.status_code,
                                     list(response.headers.items()), response.body)
        return response, sample

    def _authorize(self, request: Request, method: Method, body: bytes) -> Denied | None:
        if method.authorization == "AWS_IAM":
            return check_sigv4(request.method, str(request.url), dict(request.headers), body, self.secrets)
        if method.authorization == "COGNITO_USER_POOLS":
            authorizer = self.snapshot.authorizers.get(method.authorizer_id or "") or {}
            pools = [arn.rsplit("/", 1)[-1] for arn in authorizer.get("providerARNs", [])]
            source = (authorizer.get("identitySource") or "method.request.header.Authorization").rsplit(".", 1)[-1]
            return check_cognito(request.headers.get(source), pools, {p: self.jwks(p) for p in pools}, method.scopes)
        if method.authorization not in ("NONE", ""):
            return CONFIG_ERROR  # CUSTOM (Lambda) authorizers do not run locally
        return None

    def _admit(self, request: Request, stage: Stage, resource: str, method: Method, settings: dict) -> Denied | None:
        """API key, usage-plan throttle and quota, then the stage's method throttle."""
        if method.api_key_required:
            value = request.headers.get("x-api-key") if self.snapshot.key_source == "HEADER" else None
            key = self.snapshot.keys.get(value or "")
            plan = next((p for p in self.snapshot.plans if key and key["id"] in p.key_ids and stage.name in p.stages),
                        None)
            if not key or not key["enabled"] or plan is None:
                return FORBIDDEN
            denied = self._plan(plan, key["id"], stage.name, resource, method.verb)
            if denied:
                return denied
        rate = float(settings.get("throttlingRateLimit", ACCOUNT_RATE))
        burst = int(settings.get("throttlingBurstLimit", ACCOUNT_BURST))
        if not self._bucket(("method", stage.name, resource, method.verb), rate, burst).take():
            return THROTTLED
        return None

    def _plan(self, plan: Plan, key_id: str, stage: str, resource: str, verb: str) -> Denied | None:
        quota = plan.quota
        if quota.get("limit") is not None:
            now = datetime.now(UTC)
            period = {"DAY": now.strftime("%Y-%j"), "WEEK": now.strftime("%G-%V")}.get(quota.get("period"),
                                                                                      now.strftime("%Y-%m"))
            counter = (plan.id, key_id, period)
            if self.quotas[counter] >= int(quota["limit"]):
                return QUOTA
            self.quotas[counter] += 1
        method_throttle = (plan.stages[stage].get("throttle") or {}).get(f"{resource}/{verb}")
        for scope, t in (("plan-method", method_throttle), ("plan", plan.throttle)):
            if t and t.get("rateLimit") is not None:
                bucket = self._bucket((scope, plan.id, key_id, stage, resource, verb) if scope == "plan-method"
                                      else (scope, plan.id, key_id), float(t["rateLimit"]), int(t.get("burstLimit", 0)))
                if not bucket.take():
                    return THROTTLED
        return None

    def _bucket(self, key: tuple, rate: float, burst: int) -> Bucket:
        b = self.buckets.get(key)
        if b is None or (b.rate, b.burst) != (rate, burst):
            b = self.buckets[key] = Bucket(rate, burst)
        return b

    @staticmethod
    def _cache_key(stage: Stage, resource: str, method: Method, params: dict[str, str], request: Request) -> tuple:
        """The resource plus the integration's cacheKeyParameters: without any, every path under one resource
        shares one entry, as on AWS."""
        values = []
        for p in method.integration.get("cacheKeyParameters") or []:
            kind, _, name = p.removeprefix("method.request.").partition(".")
            source = {"path": params, "querystring": request.query_params, "header": request.headers}.get(kind, {})
            values.append((p, source.get(name)))
        return stage.name, resource, method.verb, tuple(values)

    async def _integrate(self, request: Request, method: Method, params: dict[str, str], body: bytes,
                         trace: str, stage: str) -> Response:
        integ = method.integration
        if integ.get("type") not in ("HTTP_PROXY", "HTTP"):
            if integ.get("type") == "MOCK":
                return Response(b"", status_code=200)
            return _error(CONFIG_ERROR)
        uri = integ.get("uri") or ""
        path_mapped = False
        for target, source in (integ.get("requestParameters") or {}).items():
            if target.startswith("integration.request.path."):
                path_mapped = True
                value = source[1:-1] if source[:1] == "'" else params.get(source.rsplit(".", 1)[-1], "") \
                    if source.startswith("method.request.path.") else ""
                uri = uri.replace("{" + target.rsplit(".", 1)[-1] + "}", value)
        if integ.get("connectionId") in self.snapshot.links_v2 and not path_mapped:
            # On a VPC link v2, API Gateway sends the stage in front of the path unless a parameter mapping sets
            # the path (AWS's "Private integrations for REST APIs" page; docs/modes.md has the sources).
            scheme, _, rest = uri.partition("://")
            host, _, path = rest.partition("/")
            uri = f"{scheme}://{host}/{stage}/{path}"
        url = httpx.URL(uri)
        headers = [(k, v) for k, v in request.headers.items()
                   if k not in HOP_BY_HOP and k not in NOT_FORWARDED and k != "x-forwarded-for"]
        for target, source in (integ.get("requestParameters") or {}).items():  # header mappings
            if target.startswith("integration.request.header."):
                name = target.rsplit(".", 1)[-1].lower()
                value = source[1:-1] if source.startswith("'") and source.endswith("'") else \
                    request.headers.get(source.rsplit(".", 1)[-1]) if source.startswith("method.request.header.") \
                    else None
                if value is not None:
                    headers = [(k, v) for k, v in headers if k.lower() != name] + [(name, value)]
        port = self._connect(integ, url, headers)
        if isinstance(port, Response):
            return port
        if port is None:
            return _error(CONFIG_ERROR)
        client = request.client.host if request.client else "127.0.0.1"
        forwarded = ", ".join(filter(None, [request.headers.get("x-forwarded-for"), client]))
        headers += [("host", f"{url.host}:{url.port}" if url.port else url.host), ("x-forwarded-for", forwarded),
                    ("x-amzn-apigateway-api-id", self.snapshot.api_id),
                    ("x-forwarded-proto", request.url.scheme), ("x-forwarded-port", str(request.url.port or 80)),
                    ("x-amzn-trace-id", trace)]
        verb = integ.get("httpMethod") or request.method
        target = url.copy_with(scheme="http", host="127.0.0.1", port=port,
                               query=request.scope.get("query_string") or None)
        timeout = float(integ.get("timeoutInMillis") or 29000) / 1000
        try:
            upstream = await self.client.request(request.method if verb == "ANY" else verb, target, headers=headers,
                                                 content=body, timeout=timeout)
        except httpx.TimeoutException:
            return _error(TIMEOUT)
        except httpx.HTTPError:
            return _error(FAILURE)
        out = [(f"x-amzn-Remapped-{k}" if k.lower() in REMAPPED else k, v)
               for k, v in ((k.decode("latin-1"), v.decode("latin-1")) for k, v in upstream.headers.raw)
               if k.lower() not in NOT_RETURNED]
        return Response(upstream.content, status_code=upstream.status_code, headers=dict(out))

    def _connect(self, integ: dict, url: httpx.URL, headers: list[tuple[str, str]]) -> int | Response | None:
        """The loopback port that reaches the integration's host:port: over the VPC link, the NLB listener, or
        the ALB listener's rule's target; a response when the ALB answers itself (its default action)."""
        snap = self.snapshot
        port = url.port or (443 if url.scheme == "https" else 80)
        if integ.get("connectionType") == "VPC_LINK":
            link = integ.get("connectionId") or ""
            alb = integ.get("integrationTarget") if link in snap.links_v2 else None
            if alb in snap.albs:
                listener = snap.listeners.get((alb, port)) if snap.lb_dns.get(alb) == url.host else None
                return self._alb(listener, headers) if listener else None
            # A v1 link leads to its own NLBs; a v2 link to the one the integration names (integrationTarget).
            lbs = [integ["integrationTarget"]] if link in snap.links_v2 and integ.get("integrationTarget") \
                else snap.links.get(link, [])
            for lb_arn in lbs:
                if snap.lb_dns.get(lb_arn) == url.host and (lb_arn, port) in snap.listeners:
                    return self.local_port(snap.listeners[(lb_arn, port)])
            return None
        return port if url.host in ("127.0.0.1", "localhost") else None  # loopback only: no internet from here

    def _alb(self, listener: str, headers: list[tuple[str, str]]) -> int | Response:
        """The ALB listener's rules in priority order: the first that matches forwards to its target group (one
        routable target, or 503 as an ALB with none); none matches: the default action (a fixed response)."""
        snap = self.snapshot
        group = next((tg for _, conditions, tg in snap.rules.get(listener, []) if _rule_matches(conditions, headers)),
                     None)
        if group is None:
            action = snap.defaults.get(listener) or {}
            group = action.get("TargetGroupArn") if action.get("Type") == "forward" else None
            if group is None:
                fixed = action.get("FixedResponseConfig") or {"StatusCode": "503"}
                return Response((fixed.get("MessageBody") or "").encode(), status_code=int(fixed["StatusCode"]),
                                media_type=fixed.get("ContentType") or "text/plain")
        port = self.target_port(group) if self.target_port else None
        return port if port is not None else Response(b"503 Service Temporarily Unavailable", status_code=503,
                                                      media_type="text/html")


def _rule_matches(conditions: list[tuple[str, list[str]]] | None, headers: list[tuple[str, str]]) -> bool:
    """Every condition of the rule holds: an http-header condition matches when the header (name case-
    insensitive) has one of the values, compared case-insensitively with * and ? wildcards, as an ALB does
    (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html). A rule
    with another kind of condition (path, host, ...) is not evaluated here and never matches."""
    if not conditions:
        return False
    have = {}
    for k, v in headers:
        have.setdefault(k.lower(), []).append(v.lower())
    return all(any(fnmatch.fnmatchcase(v, want.lower()) for v in have.get(name, []) for want in values)
               for name, values in conditions)


def _settings(stage: Stage, resource: str, verb: str, requested: str) -> dict[str, Any]:
    """`*/*`, then the method's own key, then the request's verb: an ANY method's overrides are kept per verb."""
    settings = stage.method_settings
    keys = ("*/*", setting_key(resource, verb), setting_key(resource, requested))
    return {k: v for key in keys for k, v in (settings.get(key) or {}).items()}


def _error(denied: Denied) -> JSONResponse:
    return JSONResponse({"message": denied.message}, status_code=denied.status,
                        headers={"x-amzn-ErrorType": denied.error_type})
