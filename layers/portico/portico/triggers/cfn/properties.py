"""Resource properties → what portico takes. CloudFormation passes every number and boolean as a string.

A ServiceRoute's properties are the registry attributes with a capital first letter (`EcsService` →
`ecsService`); a ListenerPort has one optional `Port`; an ApiGatewayAccount one `CloudWatchRoleArn`.
Unknown properties are refused by name.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from ...spec import SPEC_ATTRIBUTES, SpecError
from .answer import Failure

ROUTE, PORT, ACCOUNT = "Custom::ServiceRoute", "Custom::ListenerPort", "Custom::ApiGatewayAccount"
CFN_PROPERTIES = ("ServiceToken", "ServiceTimeout")  # CloudFormation's own, never part of the spec

# Attributes that are strings (or a list) in the registry; every other one is a number or a boolean, which
# CloudFormation passes as a string ("8080", "true").
STRINGS = {"service", "cluster", "ecsService", "containerName", "path", "auth", "healthCheckPath"}
LISTS = {"methods"}
REQUIRED = {"service", "cluster", "containerPort", "path"}


def prop_name(attribute: str) -> str:
    return attribute[:1].upper() + attribute[1:]


def number(value: Any) -> Any:
    """CloudFormation passes numbers as strings; anything that is not a number stays as it is, so the
    registry's own check reports it."""
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            return value
        return parsed if parsed.is_finite() else value
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def refuse_unknown(properties: dict[str, Any], allowed: list[str], kind: str) -> None:
    unknown = sorted(k for k in properties if k not in allowed and k not in CFN_PROPERTIES)
    if unknown:
        raise Failure(f"{unknown[0]}: not a property of {kind}; allowed: {', '.join(allowed)}")


def route_item(properties: dict[str, Any]) -> dict[str, Any]:
    """ServiceRoute properties → a registry item (plain form)."""
    allowed = {prop_name(a): a for a in SPEC_ATTRIBUTES}
    refuse_unknown(properties, list(allowed), ROUTE)
    item: dict[str, Any] = {}
    for prop, attr in allowed.items():
        if prop not in properties:
            continue
        value = properties[prop]
        if value == "" and attr not in REQUIRED:
            continue  # an empty optional parameter means "not set"
        if attr in LISTS and isinstance(value, str):
            value = [m.strip() for m in value.split(",") if m.strip()]
        elif attr not in STRINGS and attr not in LISTS:
            value = {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value
            value = number(value)
        item[attr] = value
    return item


def route_service(event: dict[str, Any]) -> str:
    """The `Service` a ServiceRoute request names (its physical id once it exists)."""
    return str((event.get("ResourceProperties") or {}).get("Service", ""))


def spec_failure(exc: SpecError) -> Failure:
    """The registry's message, with the property that holds the bad attribute named at the end."""
    prop = prop_name(exc.field) if exc.field in SPEC_ATTRIBUTES else None
    return Failure(f"{exc} (property {prop})" if prop else str(exc))


def port_property(properties: dict[str, Any]) -> int | None:
    """A ListenerPort's `Port`: a whole number from 1 to 65535, or None for "the lowest free one"."""
    refuse_unknown(properties, ["Port"], PORT)
    value = properties.get("Port")
    if value in (None, ""):
        return None
    parsed = number(value)
    if isinstance(parsed, bool) or not isinstance(parsed, (int, Decimal)) or parsed != int(parsed) \
            or not 1 <= int(parsed) <= 65535:
        raise Failure(f"Port: must be a whole number from 1 to 65535, got {value!r}")
    return int(parsed)
