"""The emulator finds a request's backend once per host name (dispatch.py), not by scanning moto's service
folders on every request under the server's one lock."""

from __future__ import annotations

from moto import backends

from portico_cli.local_aws import account as local


def test_a_services_requests_are_dispatched_without_scanning_motos_services_each_time(aws, monkeypatch):
    scans = []
    listing = backends.list_of_moto_modules
    monkeypatch.setattr(backends, "list_of_moto_modules", lambda: scans.append(1) or listing())
    session = local.session(aws)
    elbv2, dynamodb = (session.client(name, endpoint_url=aws) for name in ("elbv2", "dynamodb"))
    for _ in range(10):
        elbv2.describe_load_balancers()
        dynamodb.list_tables()
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []  # still answered by ELBv2's backend
    assert len(scans) <= 2  # at most the first request of each service: 20 without the memo
