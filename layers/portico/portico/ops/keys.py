"""API keys for third parties, attached to a usage-plan tier.

Tiers are the usage plans of this REST API that the stack defines: a plan tagged `portico:tier`, or named
`<stack>-<tier>` or `<tier>`. A partner's key is named `<stack>-<partner>`. The key value is returned to
the caller once, by `create`; nothing here logs it, and `ls` never asks API Gateway for values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from botocore.exceptions import ClientError

from ..errors import ProductError

PARTNER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class Tier:
    name: str
    plan_id: str
    rate: float | None
    burst: int | None
    quota: str | None


@dataclass(frozen=True)
class PartnerKey:
    partner: str
    key_id: str
    enabled: bool
    tier: str | None
    created: str


def _paginate(apigw, operation: str, **kw):
    for page in apigw.get_paginator(operation).paginate(**kw, PaginationConfig={"PageSize": 500}):
        yield from page.get("items", [])


def tiers(apigw, rest_api_id: str, stack: str) -> dict[str, Tier]:
    out: dict[str, Tier] = {}
    for plan in _paginate(apigw, "get_usage_plans"):
        if not any(s.get("apiId") == rest_api_id for s in plan.get("apiStages") or []):
            continue
        name = (plan.get("tags") or {}).get("portico:tier") or plan["name"].removeprefix(f"{stack}-")
        throttle, quota = plan.get("throttle") or {}, plan.get("quota") or {}
        out[name] = Tier(name, plan["id"], throttle.get("rateLimit"), throttle.get("burstLimit"),
                         f"{quota['limit']}/{quota.get('period', '').lower()}" if quota.get("limit") else None)
    return out


def key_name(stack: str, partner: str) -> str:
    return f"{stack}-{partner}"


def check_partner(partner: str) -> str:
    if not PARTNER_RE.fullmatch(partner or ""):
        raise ProductError(f"PARTNER: {partner!r} must match [A-Za-z0-9][A-Za-z0-9._-]{{0,63}} "
                        "(1-64 letters, digits, '.', '_', '-'; a letter or digit first)")
    return partner


def _keys(apigw, stack: str) -> dict[str, dict]:
    prefix = f"{stack}-"
    return {k["name"].removeprefix(prefix): k for k in _paginate(apigw, "get_api_keys", includeValues=False)
            if k.get("name", "").startswith(prefix)}


def _membership(apigw, all_tiers: dict[str, Tier]) -> dict[str, str]:
    out = {}
    for tier in all_tiers.values():
        for k in _paginate(apigw, "get_usage_plan_keys", usagePlanId=tier.plan_id):
            out[k["id"]] = tier.name
    return out


def create(apigw, rest_api_id: str, stack: str, partner: str, tier: str) -> tuple[PartnerKey, str]:
    """Create the partner's key in the tier; returns (key, value). The value is never stored or logged."""
    check_partner(partner)
    all_tiers = tiers(apigw, rest_api_id, stack)
    if tier not in all_tiers:
        raise ProductError(f"--plan: unknown tier {tier!r}; this API's tiers are "
                           f"{', '.join(sorted(all_tiers)) or 'none'}")
    if partner in _keys(apigw, stack):
        raise ProductError(f"PARTNER: {partner!r} already has a key; revoke it first (`portico keys revoke {partner}`)")
    key = apigw.create_api_key(name=key_name(stack, partner), enabled=True, generateDistinctId=True,
                               description=f"portico partner {partner}, tier {tier}",
                               tags={"portico:stack": stack, "portico:partner": partner, "portico:tier": tier})
    try:
        apigw.create_usage_plan_key(usagePlanId=all_tiers[tier].plan_id, keyId=key["id"], keyType="API_KEY")
    except ClientError:
        apigw.delete_api_key(apiKey=key["id"])  # no orphan key without a plan
        raise
    return PartnerKey(partner, key["id"], True, tier, str(key.get("createdDate", ""))), key["value"]


def list_keys(apigw, rest_api_id: str, stack: str) -> list[PartnerKey]:
    members = _membership(apigw, tiers(apigw, rest_api_id, stack))
    return [PartnerKey(partner, k["id"], bool(k.get("enabled")), members.get(k["id"]), str(k.get("createdDate", "")))
            for partner, k in sorted(_keys(apigw, stack).items())]


def revoke(apigw, rest_api_id: str, stack: str, partner: str) -> PartnerKey:
    """Remove the key from its usage plan and delete it: requests with it get 403 from then on."""
    check_partner(partner)
    keys = _keys(apigw, stack)
    if partner not in keys:
        raise ProductError(f"PARTNER: no key for {partner!r}; `portico keys ls` lists the partners")
    key = keys[partner]
    all_tiers = tiers(apigw, rest_api_id, stack)
    members = _membership(apigw, all_tiers)
    tier = members.get(key["id"])
    if tier:
        apigw.delete_usage_plan_key(usagePlanId=all_tiers[tier].plan_id, keyId=key["id"])
    apigw.delete_api_key(apiKey=key["id"])
    return PartnerKey(partner, key["id"], False, tier, str(key.get("createdDate", "")))
