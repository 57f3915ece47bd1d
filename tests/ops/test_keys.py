"""API keys and usage-plan tiers: `portico keys create/ls/revoke` on the moto server."""

from __future__ import annotations

import json
import logging

import pytest

from portico.errors import ProductError
from portico.ops import keys


def plan_keys(clients, stack, tier):
    plan = keys.tiers(clients.apigateway, stack.rest_api_id, stack.stack)[tier]
    return {k["id"] for k in clients.apigateway.get_usage_plan_keys(usagePlanId=plan.plan_id)["items"]}


def test_tiers_are_the_stack_usage_plans(clients, stack):
    tiers = keys.tiers(clients.apigateway, stack.rest_api_id, stack.stack)
    assert sorted(tiers) == ["basic", "premium"]
    assert (tiers["basic"].rate, tiers["basic"].burst, tiers["basic"].quota) == (10.0, 20, "100000/month")
    assert tiers["premium"].rate == 100.0


def test_create_never_logs_the_value(clients, stack, caplog):
    caplog.set_level(logging.INFO)  # botocore's DEBUG wire log is the user's choice; nothing above it may carry it
    caplog.set_level(logging.DEBUG, logger="portico")
    _, value = keys.create(clients.apigateway, stack.rest_api_id, stack.stack, "acme", "premium")
    assert len(value) >= 20 and value not in caplog.text


def test_create_shows_the_value_once(cli, clients, stack):
    code, out, err = cli("keys", "create", "acme", "--plan", "premium")
    assert code == 0, err
    value = out.strip().splitlines()[-1]
    assert len(value) >= 20 and " " not in value and value not in err
    key = next(k for k in clients.apigateway.get_api_keys(includeValues=True)["items"] if k["name"] == "portico-acme")
    assert key["value"] == value and key["enabled"] is True
    assert key["id"] in plan_keys(clients, stack, "premium")
    code, out, _ = cli("keys", "create", "globex", "--plan", "basic", "--json")
    doc = json.loads(out)
    assert code == 0 and set(doc) == {"partner", "keyId", "tier", "value"} and doc["tier"] == "basic"
    # ls never shows it again
    code, listing, _ = cli("keys", "ls")
    assert code == 0 and "acme" in listing and "premium" in listing and value not in listing
    code, as_json, _ = cli("keys", "ls", "--json")
    assert '"tier": "premium"' in as_json and value not in as_json


def test_revoke_removes_the_key_from_its_plan_and_deletes_it(cli, clients, stack):
    assert cli("keys", "create", "acme", "--plan", "basic")[0] == 0
    assert cli("keys", "create", "globex", "--plan", "basic")[0] == 0
    code, out, _ = cli("keys", "revoke", "acme")
    assert code == 0 and "revoked acme" in out
    code, out, _ = cli("keys", "create", "initech", "--plan", "basic", "--json")
    key_id = json.loads(out)["keyId"]
    code, out, _ = cli("keys", "revoke", "initech", "--json")
    assert code == 0 and json.loads(out) == {"partner": "initech", "keyId": key_id, "tier": "basic"}
    names = {k["name"] for k in clients.apigateway.get_api_keys()["items"]}
    assert names == {"portico-globex"}
    assert len(plan_keys(clients, stack, "basic")) == 1
    assert [k.partner for k in keys.list_keys(clients.apigateway, stack.rest_api_id, stack.stack)] == ["globex"]


BAD_INPUT = [
    (("keys", "create", "acme", "--plan", "gold"), "--plan: unknown tier 'gold'; this API's tiers are basic, premium"),
    (("keys", "create", "bad!", "--plan", "basic"), "PARTNER: 'bad!' must match"),
    (("keys", "create", "a b", "--plan", "basic"), "PARTNER: 'a b' must match"),
    (("keys", "revoke", "nobody"), "PARTNER: no key for 'nobody'"),
]


def test_bad_input_is_a_specific_error(cli, clients):
    for args, message in BAD_INPUT:  # one stack for all: none of them may write
        code, _, err = cli(*args)
        assert code == 4, args  # refused (docs/cli.md)
        assert message in " ".join(err.split()), args
    assert clients.apigateway.get_api_keys()["items"] == []


def test_a_partner_gets_one_key(clients, stack):
    keys.create(clients.apigateway, stack.rest_api_id, stack.stack, "acme", "basic")
    with pytest.raises(ProductError, match="PARTNER: 'acme' already has a key; revoke it first"):
        keys.create(clients.apigateway, stack.rest_api_id, stack.stack, "acme", "premium")
