"""The API's resources quota is counted when planning (kinds/api.py, fit_quota): the services that do not fit
are refused by name with the fix before any call, the rest onboard with one import, and raising the quota
(AWS's, then ResourcesPerApi) onboards the refused ones on the next pass. The emulator enforces the same quota
(PORTICO_EMULATOR_RESOURCES_PER_API, LimitExceededException), so a miscount would show as AWS's error."""

from __future__ import annotations

import dataclasses

from portico.reconcile import ALL
from portico_cli.local_aws.emulator.apigateway import RESOURCES
from tests.faults.injector import Injector
from tests.faults.world import World, make_clients

NAMES = [f"svc-{i:02d}" for i in range(25)]


def with_quota(world: World, monkeypatch, quota: int) -> None:
    monkeypatch.setenv(RESOURCES, str(quota))  # the account's quota, which AWS enforces
    world.settings = dataclasses.replace(world.settings, resources_per_api=quota)  # and portico's setting of it


def test_services_past_the_quota_are_refused_by_name_and_the_rest_take_one_import(moto_endpoint, monkeypatch):
    world = World(moto_endpoint, make_clients(moto_endpoint))
    world.fresh(services={n: 8080 for n in NAMES})
    quota = len(world.resources()) + 2 * 10  # room for 10 services (a path and its {proxy+} each)
    with_quota(world, monkeypatch, quota)
    for name in NAMES:
        world.put(name, auth="NONE")
    inj = Injector()
    outcome = world.reconciler(inj).run(ALL)
    ready = sorted(s for s, v in outcome.statuses.items() if v.status == "READY")
    failed = {s: v.message for s, v in outcome.statuses.items() if v.status == "FAILED"}
    assert len(ready) == 10 and sorted([*ready, *failed]) == NAMES
    for service, message in failed.items():
        assert f"Resources per API ({quota})" in message and f"{service} needs 2 more" in message
        assert "Service Quotas" in message and "ResourcesPerApi" in message
        assert world.items()[service]["status"] == "FAILED"
    ops = [op for _, op in inj.calls()]
    assert ops.count("PutRestApi") == 1 and "CreateResource" not in ops  # one import, no bisecting
    assert ops.count("CreateTargetGroup") == 10  # nothing is made for a refused service
    assert len(world.resources()) == quota

    with_quota(world, monkeypatch, quota + 2 * 15)  # raised on AWS, then in the setting
    inj = Injector()
    outcome = world.reconciler(inj).run(ALL)
    assert {v.status for v in outcome.statuses.values()} == {"READY"}
    assert [op for _, op in inj.calls()].count("PutRestApi") == 1


def test_a_shared_parent_counts_once_and_a_service_that_fits_is_not_held_back(moto_endpoint, monkeypatch):
    """/team/a and /team/b need /team once (5 resources); a third service that does not fit is refused while
    a later one that does still onboards."""
    names = ["svc-a", "svc-b", "svc-c", "svc-d"]
    world = World(moto_endpoint, make_clients(moto_endpoint))
    world.fresh(services={n: 8080 for n in names})
    with_quota(world, monkeypatch, len(world.resources()) + 5 + 2)
    world.put("svc-a", auth="NONE", path="/team/a")
    world.put("svc-b", auth="NONE", path="/team/b")
    world.put("svc-c", auth="NONE", path="/other/c")  # 3 resources: /other, /other/c, its {proxy+}
    world.put("svc-d", auth="NONE", path="/team/d")  # 2 more under /team
    assert set(world.reconciler().run(ALL, dry_run=True).plan.failed) == {"svc-c"}  # before d or after it
    outcome = world.reconciler().run(ALL)
    assert sorted(s for s, v in outcome.statuses.items() if v.status == "READY") == ["svc-a", "svc-b", "svc-d"]
    assert "svc-c needs 3 more" in outcome.statuses["svc-c"].message


def test_a_setting_above_the_api_quota_costs_one_import_not_a_bisection(moto_endpoint, monkeypatch):
    """ResourcesPerApi set higher than the API's real quota: AWS refuses the import with its quota error; that
    refusal is the whole batch's (no route is at fault), so every service is FAILED with it after one
    PutRestApi, naming the setting. Set right, the next pass refuses by count before any call."""
    world = World(moto_endpoint, make_clients(moto_endpoint))
    world.fresh(services={n: 8080 for n in NAMES})
    quota = len(world.resources()) + 2 * 10
    with_quota(world, monkeypatch, quota)
    world.settings = dataclasses.replace(world.settings, resources_per_api=quota + 1000)  # set wrong
    for name in NAMES:
        world.put(name, auth="NONE")
    inj = Injector()
    outcome = world.reconciler(inj).run(ALL)
    assert {v.status for v in outcome.statuses.values()} == {"FAILED"}
    message = outcome.statuses[NAMES[0]].message
    assert "LimitExceededException" in message and f"ResourcesPerApi ({quota + 1000})" in message
    assert [op for _, op in inj.calls()].count("PutRestApi") == 1

    with_quota(world, monkeypatch, quota)  # the setting put right
    inj = Injector()
    outcome = world.reconciler(inj).run(ALL)
    assert sum(v.status == "READY" for v in outcome.statuses.values()) == 10
    assert [op for _, op in inj.calls()].count("PutRestApi") == 1
