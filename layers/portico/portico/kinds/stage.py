"""Per-service throttling, caching and detailed metrics as method settings on the reconciled stage.

API Gateway keys a stage's method settings by `{resource_path}/{http_method}`, the resource path with every
'/' escaped as '~1', its leading one included (`~1orders~1{proxy+}/GET`; the root is `~1/GET`); UpdateStage
patches `/{key}/throttling/rateLimit` and removes a whole override with `remove /{key}`. That is the form
CloudFormation's MethodSetting documents ("the path value /resource/subresource must be encoded as
/~1resource~1subresource", the unescaped '/' before it being the patch path's own,
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-apigateway-stage-methodsetting.html)
and the one GetStage reports (`~1some~1api~1endpoint/POST`,
https://github.com/hashicorp/terraform-provider-aws/issues/9738). AWS stores a key in any other form without
complaint (it answered `/test/GET/throttling/burstLimit` on an API with no `/test` by storing `test/GET`:
LocalStack's AWS-validated snapshot, tests/aws/services/apigateway/test_apigateway_common.snapshot.json,
test_create_update_stages) and applies it to no method, so a wrong key fails silently; a key of an older
portico without the leading `~1` is on a path portico owns (`key_path`) and is removed by the next pass.

Every routed method has detailed metrics on (the per-service alarms and `portico metrics` read the per-method ApiGateway
metrics), the service's throttle (or the stage default), and caching of its GET method when the service
sets `cacheTtlSeconds` > 0; a method gets an override only where that differs from the stage-wide `*/*`
settings (the template sets metrics on and the stage throttle there). The stage cache cluster is on only while some
service caches.

An ANY method gets the override of each of the seven HTTP verbs, not one `…/ANY` key: AWS documents a key
as the resource path and *the HTTP method* of the request, with `*` as the only wildcard, and that one only
as `*/*` for the whole stage ("To apply settings to multiple resources and methods, specify an asterisk (*)
for the HttpMethod and /* for the ResourcePath",
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-apigateway-stage-methodsetting.html;
the key format: https://docs.aws.amazon.com/apigateway/latest/api/API_Stage.html, `methodSettings`). It says
nothing of ANY standing for the verbs, and the stage-settings plugins that run on it set the seven verbs of
an ANY method (serverless-api-gateway-throttling, src/updateRestApiStageThrottling.js;
serverless-api-gateway-caching, src/stageCache.js). Caching is for GET only, as API Gateway's own default
("only GET methods have caching enabled by default",
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-caching.html).

AWS refuses a large UpdateStage ("Update size too large. Try updating stage in multiple UpdateStage
operations", https://github.com/DianaIonita/serverless-api-gateway-caching/issues/46) and documents no
number; those plugins send at most 80 operations per call. portico sends at most MAX_PATCH_OPERATIONS: one
update_stage step per run of operations, a method's operations never split across two, each call through
the same clients (and botocore retries) as every other control-plane call.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ..context import ApplyContext
from ..errors import error_text, is_transient
from ..observed import Observed
from ..settings import Settings
from ..spec import route_paths
from ..steps import Plan, Step, routes

# The account-level defaults API Gateway applies when neither the stage nor the method sets a throttle.
ACCOUNT_RATE, ACCOUNT_BURST = 10000.0, 5000
MAX_PATCH_OPERATIONS = 80  # per UpdateStage: the largest batch known to pass (module docstring)
ANY_VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")  # what an ANY method's overrides cover
# patch path suffix -> the name GetStage reports it under
FIELDS = {
    "metrics/enabled": "metricsEnabled",
    "throttling/rateLimit": "throttlingRateLimit",
    "throttling/burstLimit": "throttlingBurstLimit",
    "caching/enabled": "cachingEnabled",
    "caching/ttlInSeconds": "cacheTtlInSeconds",
}


def setting_key(path: str, verb: str) -> str:
    """`/team/orders/{proxy+}` + GET -> `~1team~1orders~1{proxy+}/GET`; the root `/` is `~1`."""
    return f"{path.replace('/', '~1')}/{verb}"


def key_path(key: str) -> str:
    """The API resource path a method-settings key belongs to (inverse of `setting_key`); a key without its
    leading `~1` (an older portico's, which AWS never applied) maps to the same path, so it is cleaned up."""
    return "/" + key.rsplit("/", 1)[0].replace("~1", "/").lstrip("/")


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
    out: dict[str, dict[str, Any]] = {}
    for verb in ANY_VERBS if "ANY" in methods else methods:
        caching = bool(cache_ttl_seconds) and verb == "GET"
        wanted: dict[str, Any] = {
            "metrics/enabled": True,
            "throttling/rateLimit": float(throttle_rate) if throttle_rate is not None else defaults[0],
            "throttling/burstLimit": int(throttle_burst) if throttle_burst is not None else defaults[1],
            "caching/enabled": caching,
        }
        if caching:
            wanted["caching/ttlInSeconds"] = int(cache_ttl_seconds)
        out.update({setting_key(p, verb): dict(wanted) for p in paths})
    return out


def inherited(wanted: dict[str, Any], stage_wide: dict[str, Any]) -> bool:
    """An override that would only repeat the stage-wide `*/*` settings (the template's: detailed metrics on,
    the stage throttle, no caching) is not needed: every method without an override takes the stage's
    ("settings ... for all methods in the stage" unless a method overrides them,
    https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-stages.html). So a fleet of services with
    no throttle and no cache costs no UpdateStage call at all."""
    return all(_same(stage_wide.get(FIELDS[suffix], False if suffix.endswith("enabled") else None), value)
               for suffix, value in wanted.items())


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


def op_key(op: dict[str, str]) -> str:
    """The method-settings key an operation patches (`~1orders/GET`), or '' for a stage-wide one."""
    parts = op["path"][1:].split("/")
    return "/".join(parts[:2]) if len(parts) >= 2 else ""


def chunks(ops: list[dict[str, str]], size: int = MAX_PATCH_OPERATIONS) -> list[list[dict[str, str]]]:
    """`ops` in order, in runs of at most `size`, each key's operations in one run (a key has at most 6)."""
    runs: list[list[dict[str, str]]] = []
    i = 0
    while i < len(ops):
        j = i + 1
        while j < len(ops) and op_key(ops[i]) and op_key(ops[j]) == op_key(ops[i]):
            j += 1
        if not runs or len(runs[-1]) + j - i > size:
            runs.append([])
        runs[-1].extend(ops[i:j])
        i = j
    return runs


def plan_pass(plan: Plan, obs: Observed, settings: Settings, region: str) -> list[Step]:
    """The pass's UpdateStage calls: every routed method's override, the offboarded ones removed."""
    if obs.product is None or obs.product.stage is None:
        return []
    current = obs.product.stage.method_settings
    defaults, stage_wide = stage_defaults(current), current.get("*/*") or {}
    wanted: dict[str, dict[str, Any]] = {}
    owners: dict[str, str] = {}
    remove: set[str] = set()
    for service, d in sorted(plan.desired.items()):
        spec = d.spec
        mine = {k: v for k, v in service_settings(list(d.resources), spec.methods, spec.throttle_rate,
                                                  spec.throttle_burst, spec.cache_ttl_seconds, defaults).items()
                if not inherited(v, stage_wide)}
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
    runs = chunks(ops)
    return [Step("update_stage", "*", {"stage": settings.stage, "part": f"{i}/{len(runs)}", "operations": len(run),
                                       "patch": run, "owners": {k: owners[k] for k in dict.fromkeys(map(op_key, run))
                                                                if k in owners}})
            for i, run in enumerate(runs, 1)]


def update_stage(step: Step, ctx: ApplyContext) -> None:
    """One UpdateStage of at most 80 operations. Operations of services that failed earlier in this pass are
    left out (their methods may be missing from the deployment, which would make API Gateway reject the whole
    patch). A refused call is sent again one service at a time, so one bad service cannot keep the others'
    settings out; what still fails is its service's status (PENDING and retried when transient, else FAILED)
    as well as the pass's error, never only a log line."""
    skip = ctx.result.stopped()
    owners = step.params.get("owners") or {}
    groups: dict[str, list[dict[str, str]]] = {}
    for op in step.params["patch"]:
        owner = owners.get(op_key(op), "")
        if owner not in skip:
            groups.setdefault(owner, []).append(op)
    try:
        _update(ctx, step.params["stage"], [op for ops in groups.values() for op in ops])
        return
    except ClientError as exc:
        if is_transient(exc) or len(groups) < 2:
            _failed(ctx, groups, exc)
            raise
    refused = None
    for owner, ops in groups.items():
        try:
            _update(ctx, step.params["stage"], ops)
        except ClientError as exc:
            _failed(ctx, {owner: ops}, exc)
            refused = refused or exc
    if refused is not None:
        raise refused


def _update(ctx: ApplyContext, stage: str, ops: list[dict[str, str]]) -> None:
    if ops:
        ctx.clients.apigateway.update_stage(restApiId=ctx.settings.rest_api_id, stageName=stage, patchOperations=ops)


def _failed(ctx: ApplyContext, groups: dict[str, list[dict[str, str]]], exc: ClientError) -> None:
    into = ctx.result.retry if is_transient(exc) else ctx.result.failed
    for service in sorted(s for s in groups if s):
        into[service] = f"stage settings failed: {error_text(exc)}"


APPLY = {"update_stage": update_stage}
