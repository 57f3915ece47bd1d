"""The registry contract: one item per service, validated into a ServiceSpec.

Pure: no AWS calls. Checks that need AWS (cluster exists, container port, …) happen in `observed`.
Every error names the attribute and the rule it broke, in a sentence a user can act on.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

SERVICE_RE = re.compile(r"[a-z][a-z0-9-]{1,27}")
SEGMENT_RE = re.compile(r"[a-z0-9._-]{1,64}")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY")
AUTH_TYPES = ("NONE", "API_KEY", "IAM", "COGNITO")
MAX_SEGMENTS = 8
PROXY = "{proxy+}"  # API Gateway's greedy path variable: the child resource that forwards the rest of the path
MAX_ITEM_BYTES = 16_384  # far above any honest spec, far below DynamoDB's 400 KB

# Attributes users write. Everything else on the item is portico's status (or ignored extras).
SPEC_ATTRIBUTES = (
    "service", "cluster", "ecsService", "containerName", "containerPort", "path", "methods", "auth",
    "healthCheckPath", "throttleRate", "throttleBurst", "cacheTtlSeconds",
    "healthCheckIntervalSeconds", "healthCheckTimeoutSeconds", "healthyThresholdCount", "unhealthyThresholdCount",
)
# Status attributes (status, statusMessage, listenerPort, invokeUrl, targetGroupArn, specHash, reconciledAt,
# passStartedAt) are written by `registry.Registry.write_status` only.
_deserializer = TypeDeserializer()


@dataclass(frozen=True)
class HealthCheck:
    """A target group's health check timing. portico's default is the quickest AWS allows: a check every 5 s
    (the least interval), healthy after 2 passes and unhealthy after 2 failures (the least thresholds), each
    check waiting 4 s (an HTTP check's timeout must be less than its interval). Ranges and AWS's defaults (30 s,
    5 and 2): https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html"""

    interval: int = 5
    timeout: int = 4
    healthy: int = 2
    unhealthy: int = 2

    @property
    def first_healthy_seconds(self) -> int:
        """How long after a target's registration its health checks can first call it healthy."""
        return self.interval * self.healthy


# registry attribute -> (HealthCheck field, AWS's range). Every ELBv2 target group (NLB TCP/HTTP, ALB HTTP)
# takes the same ranges since NLBs took configurable ones in November 2022.
HEALTH_CHECK_ATTRIBUTES = {
    "healthCheckIntervalSeconds": ("interval", 5, 300), "healthCheckTimeoutSeconds": ("timeout", 2, 120),
    "healthyThresholdCount": ("healthy", 2, 10), "unhealthyThresholdCount": ("unhealthy", 2, 10),
}


class SpecError(ValueError):
    """A registry item that breaks the contract. Terminal: retrying cannot fix it."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class ServiceSpec:
    service: str
    cluster: str
    ecs_service: str
    container_port: int
    path: str
    methods: tuple[str, ...] = ("ANY",)
    auth: str = "API_KEY"
    container_name: str | None = None
    health_check_path: str | None = None
    throttle_rate: float | None = None
    throttle_burst: int | None = None
    cache_ttl_seconds: int | None = None
    health_check: HealthCheck = HealthCheck()
    owner: str | None = field(default=None, compare=False)  # e.g. a CloudFormation stack id

    @property
    def cluster_name(self) -> str:
        return self.cluster.rsplit("/", 1)[-1]

    def digest(self) -> str:
        """Stable hash of the spec; written back as `specHash` so a status says which spec it is for."""
        # portico's default health check hashes as nothing: entries written before it was settable keep their hash
        body = json.dumps({k: v for k, v in asdict(self).items() if k != "owner"
                           and not (k == "health_check" and self.health_check == HealthCheck())}, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item in either wire form ({"S": ...}) or boto3-resource form, as plain Python."""
    if item and all(isinstance(v, dict) and len(v) == 1 and next(iter(v)) in _TYPE_KEYS
                    for v in item.values()):
        try:
            return {k: _deserializer.deserialize(v) for k, v in item.items()}
        except (TypeError, ValueError, KeyError):
            pass
    return dict(item)


_TYPE_KEYS = {"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"}


def spec_view(item: dict[str, Any]) -> dict[str, Any]:
    """Only the user-written attributes: what decides whether a change needs a reconcile."""
    return {k: item[k] for k in SPEC_ATTRIBUTES if k in item}


def _str(item: dict, name: str, *, required: bool = False, default: str | None = None) -> str | None:
    value = item.get(name)
    if value is None:
        if required:
            raise SpecError(name, "is required")
        return default
    if not isinstance(value, str):
        raise SpecError(name, f"must be a string (S), got {_kind(value)}")
    return value


def _int(item: dict, name: str, lo: int, hi: int, *, required: bool = False) -> int | None:
    value = item.get(name)
    if value is None:
        if required:
            raise SpecError(name, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise SpecError(name, f"must be a number (N) from {lo} to {hi}, got {_kind(value)} {_show(value)}")
    if value != int(value) or not lo <= int(value) <= hi:
        raise SpecError(name, f"must be a whole number from {lo} to {hi}, got {_show(value)}")
    return int(value)


def _kind(value: Any) -> str:
    return {str: "a string", bool: "a boolean", list: "a list", set: "a set", dict: "a map",
            Decimal: "a number", int: "a number", bytes: "binary", type(None): "null"}.get(type(value),
                                                                                      type(value).__name__)


def _show(value: Any, limit: int = 40) -> str:
    text = repr(value if not isinstance(value, Decimal) else str(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def canonical_path(path: str) -> str:
    """Validate `path` and return it in canonical form (the form ownership is keyed on)."""
    if not path.startswith("/"):
        raise SpecError("path", f"must start with '/', got {_show(path)}")
    if path == "/":
        raise SpecError("path", "'/' is the API root and cannot be given to one service; use /name")
    for bad, why in (("%", "percent-encoding"), ("{", "braces"), ("}", "braces"), ("//", "an empty segment '//'")):
        if bad in path:
            raise SpecError("path", f"must not contain {why}, got {_show(path)}")
    if path.endswith("/"):
        raise SpecError("path", f"must not end with '/', got {_show(path)}")
    segments = path[1:].split("/")
    if len(segments) > MAX_SEGMENTS:
        raise SpecError("path", f"has {len(segments)} segments; at most {MAX_SEGMENTS} are allowed")
    for seg in segments:
        if seg in (".", ".."):
            raise SpecError("path", f"must not contain '.' or '..' segments, got {_show(path)}")
        if not SEGMENT_RE.fullmatch(seg):
            raise SpecError("path", f"segment {_show(seg)} must match [a-z0-9._-]{{1,64}} "
                                    "(lower-case ASCII letters, digits, '.', '_', '-')")
    return path


def parse(item: dict[str, Any], *, default_auth: str = "API_KEY", allow_unauthenticated: bool = False,
          allowed_clusters: tuple[str, ...] = ()) -> ServiceSpec:
    """Validate one registry item (plain or DynamoDB wire form) into a ServiceSpec, or raise SpecError."""
    item = plain(item)
    if len(json.dumps(item, default=str)) > MAX_ITEM_BYTES:
        raise SpecError("item", f"is larger than {MAX_ITEM_BYTES} bytes; a service entry is a few hundred")
    service, cluster, ecs_service, container_name = _identity(item, allowed_clusters)
    container_port = _int(item, "containerPort", 1, 65535, required=True)
    path = canonical_path(_str(item, "path", required=True))
    methods = _methods(item)
    auth = _auth(item, default_auth, allow_unauthenticated)

    health = _str(item, "healthCheckPath")
    if health is not None and not re.fullmatch(r"/[A-Za-z0-9._~/?=&-]{0,1023}", health):
        raise SpecError("healthCheckPath", f"{_show(health)} must start with '/' and use URL-safe characters")

    rate = item.get("throttleRate")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, (int, float, Decimal))
                             or not 0 < rate <= 10000):
        raise SpecError("throttleRate", f"must be a number of requests per second in (0, 10000], got {_show(rate)}")
    burst = _int(item, "throttleBurst", 1, 5000)
    ttl = _int(item, "cacheTtlSeconds", 0, 3600)

    return ServiceSpec(
        health_check=health_check(item),
        service=service, cluster=cluster, ecs_service=ecs_service, container_port=container_port, path=path,
        methods=methods, auth=auth, container_name=container_name, health_check_path=health,
        throttle_rate=float(rate) if rate is not None else None, throttle_burst=burst, cache_ttl_seconds=ttl,
        owner=item.get("owner") if isinstance(item.get("owner"), str) else None,
    )


def health_check(item: dict[str, Any]) -> HealthCheck:
    """The entry's health check: its own settings over portico's defaults."""
    given = {name: _int(item, attr, lo, hi) for attr, (name, lo, hi) in HEALTH_CHECK_ATTRIBUTES.items()}
    check = HealthCheck(**{k: v for k, v in given.items() if v is not None})
    if check.timeout >= check.interval:
        # AWS refuses a timeout not less than the interval with ValidationError ("Health check interval must be
        # greater than the timeout", github.com/terraform-linters/tflint-ruleset-aws/issues/404; "Health check
        # timeout '10' must be smaller than the interval '10'", github.com/hashicorp/terraform-provider-aws/
        # issues/2366); its API reference states only the ranges. portico asks it of every check.
        raise SpecError("healthCheckTimeoutSeconds", f"the health check's timeout ({check.timeout} s) must be "
                        f"less than its interval ({check.interval} s); portico's defaults are "
                        f"{HealthCheck().timeout} and {HealthCheck().interval} s")
    return check


def _identity(item: dict[str, Any], allowed_clusters: tuple[str, ...]) -> tuple[str, str, str, str | None]:
    """service, cluster, ecsService and containerName: who the entry routes to."""
    service = _str(item, "service", required=True)
    if not SERVICE_RE.fullmatch(service):
        raise SpecError("service", f"{_show(service)} must match ^[a-z][a-z0-9-]{{1,27}}$ "
                                   "(2-28 chars: lower-case letter first, then lower-case letters, digits, '-')")
    cluster = _str(item, "cluster", required=True)
    if not re.fullmatch(r"(arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/)?[A-Za-z0-9_-]{1,255}", cluster):
        raise SpecError("cluster", f"{_show(cluster)} is not an ECS cluster name or cluster ARN")
    short = cluster.rsplit("/", 1)[-1]
    if allowed_clusters and cluster not in allowed_clusters and short not in allowed_clusters:
        raise SpecError("cluster", f"{_show(cluster)} is not one of the clusters this portico may change "
                                   f"({', '.join(allowed_clusters)})")
    ecs_service = _str(item, "ecsService", default=service)
    if not re.fullmatch(r"(arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:service/)?[A-Za-z0-9/_-]{1,255}", ecs_service):
        raise SpecError("ecsService", f"{_show(ecs_service)} is not an ECS service name or ARN")
    container_name = _str(item, "containerName")
    if container_name is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,255}", container_name):
        raise SpecError("containerName", f"{_show(container_name)} is not a valid container name")
    return service, cluster, ecs_service, container_name


def _methods(item: dict[str, Any]) -> tuple[str, ...]:
    raw_methods = item.get("methods", ["ANY"])
    if isinstance(raw_methods, set):
        raw_methods = sorted(raw_methods)
    if not isinstance(raw_methods, list) or not raw_methods or not all(isinstance(m, str) for m in raw_methods):
        raise SpecError("methods", f"must be a non-empty list (L) or string set (SS) of strings, "
                                   f"got {_kind(raw_methods)}")
    unknown = [m for m in raw_methods if m not in METHODS]
    if unknown:
        raise SpecError("methods", f"unknown method {_show(unknown[0])}; allowed: {' '.join(METHODS)}")
    methods = tuple(sorted(set(raw_methods), key=METHODS.index))
    if "ANY" in methods and len(methods) > 1:
        raise SpecError("methods", "ANY already covers every method; give ANY alone or a list without it")
    return methods


def _auth(item: dict[str, Any], default_auth: str, allow_unauthenticated: bool) -> str:
    auth = _str(item, "auth", default=default_auth)
    if auth not in AUTH_TYPES:
        raise SpecError("auth", f"unknown auth {_show(auth)}; allowed: {' '.join(AUTH_TYPES)}")
    if auth == "NONE" and not allow_unauthenticated:
        raise SpecError("auth", "NONE is not allowed by this portico stack (AllowUnauthenticated=false); "
                                "use API_KEY, IAM or COGNITO")
    return auth


def overlap(a: str, b: str) -> bool:
    """True when one path equals or is nested under the other (their routes would shadow each other)."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def proxy_path(path: str) -> str:
    """`/orders` -> `/orders/{proxy+}`: the child resource that carries the rest of the path."""
    return f"{path}/{PROXY}"


def route_paths(path: str) -> tuple[str, str]:
    """The two API resources of a route: the path itself and its {proxy+} child."""
    return path, proxy_path(path)
