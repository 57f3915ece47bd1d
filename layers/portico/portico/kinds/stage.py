"""Per-service throttling, caching and detailed metrics as method settings on the reconciled stage.

API Gateway keys a stage's method settings by `{resource_path}/{http_method}`: the resource path without
its leading '/', every other '/' escaped as '~1' (`orders~1{proxy+}/GET`); UpdateStage patches
`/{key}/throttling/rateLimit` and removes a whole override with `remove /{key}`. Every routed method
gets an override with detailed metrics on (the per-service alarms and `portico metrics` read the
per-method ApiGateway metrics), the service's throttle (or the stage default), and caching when the
service sets `cacheTtlSeconds` > 0. The stage cache cluster is on only while some service caches.
"""

from __future__ import annotations

from typing import Any

from ..observed import Observed
from ..settings import Settings
from ..spec import route_paths
from ..steps import ApplyContext, Plan, Step, routes

# The account-level defaults API Gateway applies when neither the stage nor the method sets a throttle.
ACCOUNT_RATE, ACCOUNT_BURST = 10000.0, 5000
# patch path suffix -> the name GetStage reports it under
FIELDS = {
    "metrics/enabled": "metricsEnabled",
    "throttling/rateLimit": "throttlingRateLimit",
    "throttling/burstLimit": "throttlingBurstLimit",
    "caching/enabled": "cachingEnabled",
    "caching/ttlInSeconds": "cacheTtlInSeconds",
}


def setting_key(path: str, verb: str) -> str:
    """`/team/orders/{proxy+}` + GET -> `team~1orders~1{proxy+}/GET`; the root `/` is `~1`."""
    resource = path.lstrip("/").replace("/", "~1") or "~1"
    return f"{resource}/{verb}"


def key_path(key: str) -> str:
    """The API resource path a method-settings key belongs to (inverse of `setting_key`)."""
    resource = key.rsplit("/", 1)[0]
    return "/" if resource == "~1" else "/" + resource.replace("~1", "/")


def stage_defaults(method_settings: dict[str, dict[str, Any]]) -> tuple[float, int]:
    """The stage-wide throttle (the `*/*` override) or the account default: what 'no throttle' means."""
    stage_wide = method_settings.get("*/*") or {}
    rate = stage_wide.get("throttlingRateLimit")
    burst = stage_wide.get("throttlingBurstLimit")
    return (float(rate) if rate is not None else ACCOUNT_RATE, int(burst) if burst is not None else ACCOUNT_BURST)


def service_settings(paths: list[str], methods: tuple[str, ...], throttle_rate: float | None,
                     throttle_burst: int | None, cache_ttl_seconds: int | None,
                     defaults: tuple[float, int]) -> dict[str, dict[str, Any]]:
    """The wanted override per key for one service: {key: {patch suffix: value}}."""
    caching = bool(cache_ttl_seconds)
    wanted: dict[str, Any] = {
        "metrics/enabled": True,
        "throttling/rateLimit": float(throttle_rate) if throttle_rate is not None else defaults[0],
        "throttling/burstLimit": int(throttle_burst) if throttle_burst is not None else defaults[1],
        "caching/enabled": caching,
    }
    if caching:
        wanted["caching/ttlInSeconds"] = int(cache_ttl_seconds)
    return {setting_key(p, v): dict(wanted) for p in paths for v in methods}


def _same(have: Any, want: Any) -> bool:
    if isinstance(want, bool):
        return isinstance(have, bool) and have is want or str(have).lower() == str(want).lower()
    try:
        return float(have) == float(want)
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(value)
    return str(value)


def patch_operations(current: dict[str, dict[str, Any]], cache_enabled: bool, wanted: dict[str, dict[str, Any]],
                     remove: set[str], want_cache: bool) -> list[dict[str, str]]:
    """The UpdateStage patch that turns `current` into `wanted`; `remove`: keys to drop (if present)."""
    ops: list[dict[str, str]] = []
    for key in sorted(remove):
        if key in current and key not in wanted:
            ops.append({"op": "remove", "path": f"/{key}"})
    for key, fields in sorted(wanted.items()):
        have = current.get(key) or {}
        for suffix, value in fields.items():
            if key not in current or not _same(have.get(FIELDS[suffix]), value):
                ops.append({"op": "replace", "path": f"/{key}/{suffix}", "value": _text(value)})
    if want_cache != cache_enabled:
        ops.insert(0, {"op": "replace", "path": "/cacheClusterEnabled", "value": _text(want_cache)})
        if want_cache and not cache_enabled:  # the smallest cache; a size set elsewhere is kept
            ops.insert(1, {"op": "replace", "path": "/cacheClusterSize", "value": "0.5"})
    return ops


def plan_pass(plan: Plan, obs: Observed, settings: Settings, region: str) -> list[Step]:
    """One UpdateStage for the pass: every routed method's override, the offboarded ones removed."""
    if obs.product is None or obs.product.stage is None:
        return []
    current = obs.product.stage.method_settings
    defaults = stage_defaults(current)
    wanted: dict[str, dict[str, Any]] = {}
    owners: dict[str, str] = {}
    remove: set[str] = set()
    for service, d in sorted(plan.desired.items()):
        spec = d.spec
        mine = service_settings(list(d.resources), spec.methods, spec.throttle_rate, spec.throttle_burst,
                                spec.cache_ttl_seconds, defaults)
        wanted.update(mine)
        owners.update(dict.fromkeys(mine, service))
        ledger = obs.state.ledgers.get(service)
        owned = set(d.resources) | (set(route_paths(ledger.path)) if ledger and ledger.path else set())
        remove |= {k for k in current if key_path(k) in owned and k not in mine}
    for service in plan.removed:
        ledger = obs.state.ledgers[service]
        if ledger.path:
            remove |= {k for k in current if key_path(k) in route_paths(ledger.path)}
    keep_paths = {p for r in routes(plan, obs) if r.service not in plan.desired for p in route_paths(r.path)}
    keep = {k for k in current if key_path(k) in keep_paths}
    want_cache = any(f.get("caching/enabled") for f in wanted.values()) or \
        any((current.get(k) or {}).get("cachingEnabled") for k in keep)
    ops = patch_operations(current, obs.product.stage.cache_cluster_enabled, wanted, remove, want_cache)
    if not ops:
        return []
    return [Step("update_stage", "*", {"stage": settings.stage, "operations": len(ops), "patch": ops,
                                       "owners": owners})]


def update_stage(step: Step, ctx: ApplyContext) -> None:
    """One UpdateStage; operations of services that failed earlier in this pass are left out (their
    methods may be missing from the deployment, which would make API Gateway reject the whole patch)."""
    skip = ctx.result.stopped()
    owners = step.params.get("owners") or {}
    ops = []
    for op in step.params["patch"]:
        parts = op["path"][1:].split("/")
        key = "/".join(parts[:2]) if len(parts) >= 2 else ""
        if owners.get(key) not in skip:
            ops.append(op)
    if ops:
        ctx.clients.apigateway.update_stage(restApiId=ctx.settings.rest_api_id, stageName=step.params["stage"],
                                            patchOperations=ops)


APPLY = {"update_stage": update_stage}
