"""`portico local up --domains`: the local stack with custom domain names (a self-signed certificate in the local
ACM, the template's domains and routing rules), served by the local gateway by Host header."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.functional.test_cli import ORDERS, bare_env, demo_services, one_line, portico

DOMAINS = "prod=api.example.com,dev=api.dev.example.com"


def answer(gateway: str, host: str, **headers) -> requests.Response:
    return requests.get(f"{gateway}/orders", headers={"Host": host, **headers}, timeout=10)


def until_routed(gateway: str, host: str, timeout: float = 20.0, **headers) -> requests.Response:
    """The answer once the gateway serves the route (its next sync), or the last one."""
    deadline = time.monotonic() + timeout
    while True:
        resp = answer(gateway, host, **headers)
        if resp.json() != {"message": "Missing Authentication Token"} or time.monotonic() > deadline:
            return resp
        time.sleep(0.5)


@pytest.mark.slow  # a whole local stack of its own (~30 s): make test-slow
def test_local_up_with_domains_serves_each_stage_on_its_host(tmp_path):
    env = bare_env()
    code, _, err = portico("local", "up", "--domains", "api.example.com", env=env, cwd=tmp_path)
    assert code == 4 and "--domains: 'api.example.com' is not stage=domain pairs" in one_line(err)
    code, out, err = portico("local", "up", "--domains", DOMAINS, "--header-route", "x-api-version:beta*=dev",
                             "--json", env=env, cwd=tmp_path)
    assert code == 0, err
    up = json.loads(out)
    try:
        assert up["domains"] == {"prod": "api.example.com", "dev": "api.dev.example.com"}
        assert f"PORTICO_DOMAINS={DOMAINS}" in (tmp_path / ".portico" / "local.env").read_text()
        demo_services(up["endpoint"])
        assert portico(*ORDERS, env=env, cwd=tmp_path)[0] == 0
        assert portico("local", "stream", "--once", env=env, cwd=tmp_path)[0] == 0
        (row,) = json.loads(portico("ls", "--json", env=env, cwd=tmp_path)[1])
        assert (row["status"], row["invokeUrl"]) == ("READY", "https://api.dev.example.com/orders")
        gateway = up["gatewayUrl"]
        # dev serves the route (its target may not be healthy yet: anything but API Gateway's "no route").
        assert until_routed(gateway, "api.dev.example.com").json() != {"message": "Missing Authentication Token"}
        # prod has nothing deployed yet, unless the canary header sends the request to dev.
        assert answer(gateway, "api.example.com").json() == {"message": "Missing Authentication Token"}
        assert answer(gateway, "api.example.com", **{"x-api-version": "beta"}).json() != {
            "message": "Missing Authentication Token"}
    finally:
        code, _, _ = portico("local", "down", env=env, cwd=tmp_path)
    assert code == 0
