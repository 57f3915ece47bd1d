"""Custom domain names on the local gateway: a request whose Host is one of the API's domain names goes where
the domain's routing rules, then (by its routing mode) its base path mappings, send it.

As API Gateway evaluates them (https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-routing-rules.html):
rules in priority order, lowest first, the first whose conditions all hold wins; a rule without conditions
matches every request; a header condition holds when any of its (name, glob) pairs matches, names compared
case-insensitively and glob values case-sensitively against the whole value, `*` only as a prefix, suffix or
both; a base path condition holds when the path begins with one of its base paths (whole segments,
case-sensitive), and the rule's stripBasePath takes the matched base path off what the stage sees. A mapping
(BASE_PATH_MAPPING_ONLY, or after the rules in ROUTING_RULE_THEN_BASE_PATH_MAPPING) sends the longest base
path it matches, stripped, or "(none)" every path. A request nothing matches is refused; AWS documents no
answer for it, and the local gateway answers 403 Forbidden (ForbiddenException).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from portico.ops.domain import routing_rules


@dataclass(frozen=True)
class Rule:
    priority: int
    headers: tuple[tuple[tuple[str, str], ...], ...]  # each header condition: its (lower-case name, glob) pairs
    base_paths: tuple[str, ...] | None  # None: no base path condition
    api_id: str
    stage: str
    strip: bool


@dataclass
class Domain:
    name: str
    mode: str
    rules: list[Rule] = field(default_factory=list)
    mappings: dict[str, tuple[str, str]] = field(default_factory=dict)  # base path ("(none)": all) -> (api, stage)


def read(apigateway, apigatewayv2) -> dict[str, Domain]:
    """Every REST custom domain name, with its rules (apigatewayv2) and base path mappings, by host name."""
    out = {}
    for d in apigateway.get_paginator("get_domain_names").paginate().build_full_result().get("items", []):
        domain = Domain(d["domainName"].lower(), d.get("routingMode") or "BASE_PATH_MAPPING_ONLY")
        if domain.mode != "BASE_PATH_MAPPING_ONLY":
            for r in routing_rules(apigatewayv2, d["domainName"]):
                conditions = r.get("Conditions") or []
                headers = tuple(tuple((h["Header"].lower(), h["ValueGlob"]) for h in c["MatchHeaders"]["AnyOf"])
                                for c in conditions if c.get("MatchHeaders"))
                paths = [tuple(c["MatchBasePaths"]["AnyOf"]) for c in conditions if c.get("MatchBasePaths")]
                invoke = r["Actions"][0]["InvokeApi"]
                domain.rules.append(Rule(int(r["Priority"]), headers, paths[0] if paths else None, invoke["ApiId"],
                                         invoke["Stage"], bool(invoke.get("StripBasePath"))))
        if domain.mode != "ROUTING_RULE_ONLY":
            for m in apigateway.get_base_path_mappings(domainName=d["domainName"]).get("items", []):
                domain.mappings[m.get("basePath") or "(none)"] = (m["restApiId"], m.get("stage", ""))
        out[domain.name] = domain
    return out


def glob_matches(glob: str, value: str) -> bool:
    """AWS's header glob: literal but for a leading and/or trailing `*` (case-sensitive, whole value)."""
    core = glob.strip("*")
    if glob.startswith("*") and glob.endswith("*") and len(glob) > 1:
        return core in value
    if glob.startswith("*"):
        return value.endswith(core)
    if glob.endswith("*"):
        return value.startswith(core)
    return value == glob


def _under(path: str, base: str) -> str | None:
    """The rest of `path` below base path `base` (whole segments), or None when it is not below it."""
    segs, base_segs = [s for s in path.split("/") if s], [s for s in base.split("/") if s]
    if segs[:len(base_segs)] != base_segs:
        return None
    return "/" + "/".join(segs[len(base_segs):]) if len(segs) > len(base_segs) else "/"


def resolve(domain: Domain, headers, path: str) -> tuple[str, str, str] | None:
    """(API id, stage, path the stage sees) for a request to `domain`, or None when nothing routes it."""
    for rule in domain.rules if domain.mode != "BASE_PATH_MAPPING_ONLY" else ():
        if not all(any(glob_matches(glob, headers.get(name, "")) and name in headers for name, glob in cond)
                   for cond in rule.headers):
            continue
        if rule.base_paths is None:
            return rule.api_id, rule.stage, path
        for base in rule.base_paths:
            rest = _under(path, base)
            if rest is not None:
                return rule.api_id, rule.stage, rest if rule.strip else path
    if domain.mode == "ROUTING_RULE_ONLY":
        return None
    found = [(base, _under(path, base)) for base in domain.mappings if base != "(none)"]
    found = sorted(((b, r) for b, r in found if r is not None), key=lambda br: -len(br[0]))
    if found:
        return (*domain.mappings[found[0][0]], found[0][1])
    if "(none)" in domain.mappings:
        return (*domain.mappings["(none)"], path)
    return None


def route(snap, headers, raw_path: str) -> tuple[str, str] | None:
    """(stage, path below it without its leading /) of a request: by its Host when that is a custom domain
    name (None when nothing on the domain routes it to this API), else `/{stage}/{path}` as on execute-api,
    unless the API's default endpoint is disabled (None: "clients can't invoke the API by using the default
    execute-api endpoint", DisableExecuteApiEndpoint in aws-resource-apigateway-restapi.html; AWS documents
    no answer for such a request, the local gateway's is 403 Forbidden)."""
    domain = snap.domains.get(headers.get("host", "").rsplit(":", 1)[0].lower())
    if domain is None:
        if not snap.default_endpoint:
            return None
        stage, _, rest = raw_path.lstrip("/").partition("/")
        return stage, rest
    target = resolve(domain, headers, raw_path)
    if target is None or target[0] != snap.api_id:  # the local gateway serves one REST API
        return None
    return target[1], target[2].lstrip("/")
