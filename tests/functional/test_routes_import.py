"""Batched route import (kinds/routes_import.py) against the local AWS: one PutRestApi for a pass's new
routes, ids read back and verified, a refused route failing only its own service, COGNITO kept per resource."""

from __future__ import annotations

import dataclasses
import json

import pytest

from portico.kinds import routes_import
from portico.reconcile import ALL
from portico_cli.local_aws import account as local
from tests.faults.injector import Injector
from tests.faults.world import World, make_clients

NAMES = [f"svc-{i:02d}" for i in range(12)]


@pytest.fixture
def world(moto_endpoint):
    w = World(moto_endpoint, make_clients(moto_endpoint))
    w.fresh(services={n: 8080 for n in NAMES})
    return w


def methods(world, path):
    res = world.resources()[path]
    return {verb: world.clients.apigateway.get_method(restApiId=world.settings.rest_api_id, resourceId=res["id"],
                                                      httpMethod=verb) for verb in res.get("resourceMethods", {})}


def test_one_import_writes_every_route_and_records_ids(world):
    for i, name in enumerate(NAMES):
        world.put(name, auth=("API_KEY", "IAM", "NONE")[i % 3])
    inj = Injector()
    reconciler = world.reconciler(inj)
    plan = reconciler.run(ALL, dry_run=True).plan
    imports = [s for s in plan.steps if s.action == "import_routes"]
    assert len(imports) == 1 and sorted(imports[0].params["services"]) == NAMES
    assert imports[0].params["replaces"] == 6 * len(NAMES)
    assert not [s for s in plan.steps if s.action in ("create_resource", "put_method", "put_integration")]
    inj.reset_counts()
    outcome = reconciler.run(ALL)
    assert {s.status for s in outcome.statuses.values()} == {"READY"}
    ops = [op for _, op in inj.calls()]
    assert ops.count("PutRestApi") == 1 and "CreateResource" not in ops and "PutIntegration" not in ops
    assert ops.count("GetResources") == 2  # observe, then the one read-back after the import
    ledgers = {led.service: led for led in world.state.snapshot().ledgers.values()}
    resources = world.resources()
    for i, name in enumerate(NAMES):
        path = f"/{name}"
        assert ledgers[name].resources == {path: resources[path]["id"],
                                           f"{path}/{{proxy+}}": resources[f"{path}/{{proxy+}}"]["id"]}
        for p in (path, f"{path}/{{proxy+}}"):
            m = methods(world, p)["ANY"]
            assert (m["authorizationType"], m["apiKeyRequired"]) == \
                (("NONE", True), ("AWS_IAM", False), ("NONE", False))[i % 3]
            assert m["methodIntegration"]["connectionId"] == world.settings.vpc_link_ids[0]
            assert m["methodIntegration"]["connectionType"] == "VPC_LINK"
    assert reconciler.run(ALL, dry_run=True).plan.steps == []  # converged: nothing to import again


@pytest.fixture
def world_v2(moto_endpoint):
    """The template's default: one VPC link v2 for a pool of two NLBs, each integration naming its NLB."""
    w = World(moto_endpoint, make_clients(moto_endpoint))
    w.fresh(load_balancers=2, services={n: 8080 for n in NAMES})
    v2 = local.session(moto_endpoint).client("apigatewayv2", endpoint_url=moto_endpoint)
    link = v2.create_vpc_link(Name="portico-pool", SubnetIds=w.subnets)["VpcLinkId"]
    w.settings = dataclasses.replace(w.settings, vpc_link_ids=(), vpc_link_v2_id=link, vpc_link_version="v2")
    return w


def test_a_v2_stack_onboards_every_service_with_one_import(world_v2):
    world = world_v2
    for name in NAMES:
        world.put(name, auth="NONE")
    inj = Injector()
    reconciler = world.reconciler(inj)
    outcome = reconciler.run(ALL)
    assert {s.status for s in outcome.statuses.values()} == {"READY"}
    ops = [op for _, op in inj.calls()]
    assert ops.count("PutRestApi") == 1 and "CreateResource" not in ops and "PutIntegration" not in ops
    resources = world.resources()
    ledgers = {led.service: led for led in world.state.snapshot().ledgers.values()}
    for name in NAMES:
        for p in (f"/{name}", f"/{name}/{{proxy+}}"):
            integration = resources[p]["resourceMethods"]["ANY"]["methodIntegration"]
            assert integration["connectionId"] == world.settings.vpc_link_v2_id
            assert integration["integrationTarget"] == ledgers[name].load_balancer  # the NLB of its listener
    assert reconciler.run(ALL, dry_run=True).plan.steps == []  # read back equal to desired: converged


def refused(path: str) -> str:
    """How AWS words a refused route (docs/import.md)."""
    return f"Errors found during import:\n\tUnable to put integration on 'ANY' for resource at path '{path}': " \
           "Invalid HTTP endpoint specified for URI"


def test_a_refused_route_fails_only_its_service(world):
    """AWS refusing one route (the answer injected, in AWS's words) fails that service; the batch goes on."""
    for name in NAMES:
        world.put(name, auth="NONE")
    inj = Injector()
    inj.fail("error", "apigateway", "PutRestApi", times=None, code="BadRequestException",
             message=refused("/svc-07"), needle='"/svc-07"')
    outcome = world.reconciler(inj).run(ALL)
    statuses = {s: v.status for s, v in outcome.statuses.items()}
    assert statuses.pop("svc-07") == "FAILED"
    assert set(statuses.values()) == {"READY"} and len(statuses) == len(NAMES) - 1
    assert outcome.statuses["svc-07"].message == f"import routes failed: {refused('/svc-07').splitlines()[1].strip()}"
    assert [op for _, op in inj.calls()].count("PutRestApi") == 2  # the batch, then the batch without svc-07
    assert "/svc-07" not in world.resources() and "/svc-06" in world.resources()


def test_bisects_when_aws_names_no_path(world):
    names = NAMES[:8]
    for name in names:
        world.put(name, auth="NONE")
    inj = Injector()
    inj.fail("error", "apigateway", "PutRestApi", times=None, code="BadRequestException",
             message="Invalid request", needle='"/svc-03"')
    outcome = world.reconciler(inj).run(ALL)
    assert outcome.statuses["svc-03"].status == "FAILED"
    assert outcome.statuses["svc-03"].message == "import routes failed: BadRequestException: Invalid request"
    assert {outcome.statuses[n].status for n in names if n != "svc-03"} == {"READY"}
    assert [op for _, op in inj.calls()].count("PutRestApi") <= 1 + 2 * 3  # the batch, then halves: log2(8) levels


def test_transient_import_failure_keeps_the_batch_pending(world):
    for name in NAMES[:4]:
        world.put(name, auth="NONE")
    inj = Injector()
    inj.fail("5xx", "apigateway", "PutRestApi", times=None)
    reconciler = world.reconciler(inj)
    outcome = reconciler.run(ALL)
    assert {v.status for v in outcome.statuses.values()} == {"PENDING"}
    inj.clear()
    assert {v.status for v in reconciler.run(ALL).statuses.values()} == {"READY"}
    assert world.audit(converged=True) == []


def test_two_new_services_stay_per_resource(world):
    """4 resources fit CreateResource's burst of 5: no quota wait to save, each service keeps its own calls."""
    world.put("svc-00", auth="NONE")
    world.put("svc-01", auth="NONE")
    actions = [s.action for s in world.reconciler().run(ALL, dry_run=True).plan.steps]
    assert "import_routes" not in actions and actions.count("create_resource") == 4


def test_changing_a_route_stays_per_resource(world):
    """An auth change updates methods in place (UpdateMethod): nothing to import, nothing re-created."""
    world.put("svc-00", auth="NONE")
    reconciler = world.reconciler()
    reconciler.run(ALL)
    world.put("svc-00", auth="IAM")
    actions = [s.action for s in reconciler.run(ALL, dry_run=True).plan.steps]
    assert "update_method" in actions and "import_routes" not in actions


def test_import_never_sends_api_level_fields_or_foreign_paths():
    body = json.loads(routes_import.document("shared", {"a": [
        {"path": "/a", "httpMethod": "ANY", "authorizationType": "NONE", "apiKeyRequired": True,
         "uri": "http://nlb:10000/", "connectionId": "link", "proxy": False},
        {"path": "/a/{proxy+}", "httpMethod": "GET", "authorizationType": "AWS_IAM", "apiKeyRequired": False,
         "uri": "http://nlb:10000/{proxy}", "connectionId": "link", "proxy": True}]}))
    assert set(body) == {"openapi", "info", "paths", "components"}
    assert body["info"] == {"title": "shared", "version": "portico"}
    assert set(body["paths"]) == {"/a", "/a/{proxy+}"}
    assert set(body["paths"]["/a"]) == {"x-amazon-apigateway-any-method"}
    proxy = body["paths"]["/a/{proxy+}"]["get"]
    assert proxy["x-amazon-apigateway-auth"] == {"type": "AWS_IAM"}
    assert proxy["parameters"][0]["name"] == "proxy"
    assert body["components"] == {"securitySchemes": {"api_key": {"type": "apiKey", "name": "x-api-key",
                                                                  "in": "header"}}}


def test_chunks_are_full_documents_within_the_limit(monkeypatch):
    """Each chunk's document is within MAX_DOCUMENT and the next service would not have fit in it: the summed
    length is the document's real length (the greedy split the serialized documents give)."""
    def routes(i: int) -> list[dict]:
        return [{"path": f"/s{i}" + "x" * (i % 7), "httpMethod": "ANY", "authorizationType": "NONE",
                 "apiKeyRequired": i % 2 == 0, "uri": f"http://nlb:{10000 + i}/", "connectionId": "link",
                 "proxy": False},
                {"path": f"/s{i}" + "x" * (i % 7) + "/{proxy+}", "httpMethod": "ANY", "authorizationType": "NONE",
                 "apiKeyRequired": False, "uri": f"http://nlb:{10000 + i}/{{proxy}}", "connectionId": "link",
                 "proxy": True}]
    services = {f"s{i}": routes(i) for i in range(300)}
    ten = len(routes_import.document("shared", {s: services[s] for s in list(services)[:10]}))
    for limit, first in ((ten, 10), (ten - 1, 9)):  # to the byte
        monkeypatch.setattr(routes_import, "MAX_DOCUMENT", limit)
        assert len(routes_import._chunks("shared", services)[0]) == first
    monkeypatch.setattr(routes_import, "MAX_DOCUMENT", 20_000)
    chunks = routes_import._chunks("shared", services)
    assert [s for c in chunks for s in c] == list(services)
    assert len(chunks) > 5
    for chunk, following in zip(chunks, [*chunks[1:], {}], strict=True):
        assert len(routes_import.document("shared", chunk)) <= routes_import.MAX_DOCUMENT
        if following:
            first = next(iter(following))
            assert len(routes_import.document("shared", {**chunk, first: services[first]})) > routes_import.MAX_DOCUMENT
