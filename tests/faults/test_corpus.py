"""A hostile and malformed registry corpus (tests/corpus/*.json) through the stream handler in mixed batches:
every entry ends FAILED with its specific message, makes no ELB/ECS/API Gateway write, and the batch never
fails; the valid entries in the same batches are served."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from portico.triggers.stream import handle
from portico_cli.local_aws.streampoll import fake_context

CORPUS = Path(__file__).parent.parent / "corpus"
CASES = [case for f in sorted(CORPUS.glob("*.json")) for case in json.loads(f.read_text())]
AWS_SERVICES = ("elbv2", "ecs", "apigateway", "ec2", "cloudwatch")


def test_the_corpus_is_big_enough_and_names_are_unique():
    assert len(CASES) >= 40
    keys = [c["item"]["service"]["S"] for c in CASES]
    assert len(keys) == len(set(keys))


def hostile_world(world):
    """Ports 10000-10009 with six taken by another team, four left for owner, owned, good-a and good-b."""
    world.fresh(services={}, port_range=(10000, 10009), allowed_clusters=("demo", "nope"),
                allow_unauthenticated=False)
    world.add_ecs_services({"owner": 8080, "owned": 8080, "good-a": 8080, "good-b": 8080, "crowded": 8080})
    world.add_ecs_services({"legacy": 8080}, controller="CODE_DEPLOY")
    world.add_ecs_services({"ledger": 8080}, cluster="payments")
    ecs = world.clients.ecs
    ecs.register_task_definition(family="multi", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
                                 memory="512", containerDefinitions=[
                                     {"name": n, "image": "example/multi", "portMappings": [{"containerPort": 8080}]}
                                     for n in ("web", "admin")])
    ecs.create_service(cluster="demo", serviceName="multi", taskDefinition="multi", desiredCount=1,
                       launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {
                           "subnets": world.subnets, "securityGroups": [world.security_group]}})
    for i in range(5):
        world.add_foreign_ecs_entry("crowded", index=i)
    for port in range(10000, 10006):
        world.add_foreign_listener(port)
    world.add_foreign_resource("/partner")
    world.put("owner", path="/shop")
    world.put("owned", path="/team/owned")


def run_batch(world, reconciler, records):
    response = handle({"Records": records}, fake_context(), reconciler)
    return response["batchItemFailures"]


@pytest.mark.parametrize("seed", [1, 2])
def test_hostile_corpus_in_mixed_batches(world, portico_clients, injector, seed):
    hostile_world(world)
    reconciler = world.reconciler(clients=portico_clients)
    assert run_batch(world, reconciler, world.stream_records()) == []
    assert {k: v["status"] for k, v in world.items().items()} == {"owner": "READY", "owned": "READY"}

    # 1. The corpus alone, shuffled, in batches of 7: nothing is written to AWS but the FAILED statuses.
    cases = list(CASES)
    random.Random(seed).shuffle(cases)
    flood = [c for c in cases if c["item"]["service"]["S"].startswith("flood-")]
    alone = [c for c in cases if c not in flood]  # the flood needs a full port range: it comes in part 2
    for c in alone:
        world.put_raw(c["item"])
    records = world.stream_records()
    assert len(records) >= len(alone)  # plus the status writes of the first batch (skipped: status only)
    injector.reset_counts()
    for i in range(0, len(records), 7):
        assert run_batch(world, reconciler, records[i:i + 7]) == []
    served = {k: v["statusMessage"] for k, v in world.items().items() if v["status"] != "FAILED"}
    assert injector.writes(AWS_SERVICES) == [], served
    # DynamoDB: the FAILED statuses, and portico's cache of task definitions it read; no reservation or ledger.
    assert {op for op in injector.writes("dynamodb")} <= {("dynamodb", "UpdateItem"), ("dynamodb", "PutItem")}
    hostile = {c["item"]["service"]["S"] for c in cases}
    held = {d.get("owner") or d.get("service") for d in world.state_items() if d["pk"].split("#")[0] in (
        "svc", "port", "path", "res", "sub")}
    assert not held & hostile, held & hostile
    items = world.items()
    for c in alone:
        got = items[c["item"]["service"]["S"]]
        assert got["status"] == "FAILED", (c["name"], got)
        assert c["expect"] in got["statusMessage"], (c["name"], got["statusMessage"])

    # 2. Mixed: two valid entries among the hostile ones (re-written, so they are reconciled again).
    for c in cases:
        world.put_raw(c["item"])
    world.put("good-a")
    world.put("good-b")
    records = world.stream_records()
    mixed = records[:-2]
    mixed.insert(len(mixed) // 3, records[-2])
    mixed.insert(2 * len(mixed) // 3, records[-1])
    # The exhaustion flood comes after the valid entries, so it finds the range full.
    order = {c["item"]["service"]["S"] for c in flood}
    mixed = [r for r in mixed if r["dynamodb"]["Keys"]["service"]["S"] not in order] + \
        [r for r in mixed if r["dynamodb"]["Keys"]["service"]["S"] in order]
    injector.reset_counts()
    assert run_batch(world, reconciler, mixed) == []
    items = world.items()
    assert items["good-a"]["status"] == "READY" and items["good-b"]["status"] == "READY"
    for c in cases:
        got = items[c["item"]["service"]["S"]]
        assert got["status"] == "FAILED" and c["expect"] in got["statusMessage"], (c["name"], got)
    names = json.dumps(injector.ops)
    assert not any(f'"{c["item"]["service"]["S"]}"' in names for c in cases)
    assert world.audit() == []
    # Nothing of the corpus reached AWS: no target group, listener or resource carries a hostile name or path.
    ours = [tg["TargetGroupName"].rsplit("-", 1)[0] for tg in world.target_groups().values()
            if tg["TargetGroupName"].startswith("portico-")]
    assert sorted(ours) == ["portico-good-a", "portico-good-b", "portico-owned", "portico-owner"]
    assert set(world.resources()) <= {"/", "/_portico", "/_portico/health", "/partner", "/shop", "/shop/{proxy+}",
                                      "/team", "/team/owned", "/team/owned/{proxy+}", "/good-a", "/good-a/{proxy+}",
                                      "/good-b", "/good-b/{proxy+}"}
