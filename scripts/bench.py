"""`make bench`: what onboarding N services costs, for portico and for a naive baseline, on the local AWS.

For N = 1, 20, 100, 300, 1000 (override: PORTICO_BENCH_SIZES=1,20; the side-by-side runs, per resource and
baseline, stop at PORTICO_BENCH_COMPARE_MAX=300):
- AWS calls to onboard N services in one pass, counted by botocore hooks on real clients pointed at a moto
  server (mutating ELB/ECS/API Gateway calls, reads, DynamoDB writes separately), and deployments made;
- the same with portico's per-resource API path only (no batched route import), side by side;
- the same for the baseline: each service wired by its own calls and its own deployment (the console
  procedure, scripted: target group, listener, ECS update, two resources, method + integration on each,
  a deployment);
- calls made by a no-op sweep of the N converged services (one shard, as the schedule runs it);
- time to converge under a simulator of the documented AWS quotas (API Gateway control plane 10 rps with a
  burst of 40, CreateResource 5/s, PutRestApi 1/s, GetResources 5 per 2 s, CreateDeployment 1 per 5 s),
  replaying each run's calls in order on a fake clock;
- one route of a batch of 100 refused by AWS: how many services end READY and what the FAILED one says;
- wall time on the local moto server;
- modeled time: the wall time of the same pass with the emulator's AWS model on (30 ms a call, each API's
  documented rate as a token bucket refusing with AWS's throttling error: emulator/aws_model.py), portico's own
  pacing sleeping for real, and the throttling errors AWS would have answered; the pool's load balancers are
  made before the pass (load-balancer provisioning is not in it); then, on the same model, 25 more services
  added to the N in one pass; and the floor AWS's documented rates put under the onboarding pass
  (PORTICO_BENCH_TRACE=file: each modeled pass's calls by API, with their first and last start, appended there);
- cold import time of each handler, and unzipped artifact sizes when `.aws-sam/build` exists.

The table is printed and written into README.md between `<!-- bench:start -->` and `<!-- bench:end -->`
(into docs/bench.md when README.md has no markers).
"""

from __future__ import annotations

import logging
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import requests  # noqa: E402
from faults.injector import Injector, is_mutating  # noqa: E402
from faults.world import World, make_clients  # noqa: E402

from portico.kinds import routes_import  # noqa: E402
from portico.kinds.load_balancer import member_name  # noqa: E402
from portico.pace import RATES  # noqa: E402
from portico.reconcile import Reconciler  # noqa: E402
from portico.state import TOKEN_TAG, StateTable, token  # noqa: E402
from portico_cli.local_aws import account as local  # noqa: E402
from portico_cli.local_aws import server  # noqa: E402
from portico_cli.local_aws.emulator import aws_model  # noqa: E402
from portico_cli.local_aws.emulator.apigateway import DEPLOY_INTERVAL, RESOURCES  # noqa: E402
from portico_cli.output import progress  # noqa: E402

SIZES = tuple(int(n) for n in os.environ.get("PORTICO_BENCH_SIZES", "1,20,100,300,1000").split(","))
MODES = tuple(os.environ.get("PORTICO_BENCH_MODES", "nlb,alb").split(","))  # the backends measured, each N
COMPARE_MAX = int(os.environ.get("PORTICO_BENCH_COMPARE_MAX", "300"))  # per resource and baseline: up to this N
HANDLERS = ("portico.triggers.stream", "portico.triggers.sweeper", "portico.triggers.provider")
WIRED = ("elbv2", "ecs", "apigateway")
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


# -- quota simulator ------------------------------------------------------------------------------------
class Bucket:
    """A token bucket on a fake clock: `rate` tokens per second, at most `burst` saved up."""

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst, self.tokens, self.at = rate, burst, burst, 0.0

    def take(self, now: float) -> float:
        """When the call may go, at or after `now`."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return now
        wait = (1 - self.tokens) / self.rate
        self.tokens, self.at = 0.0, now + wait
        return now + wait


def simulate(ops: list[tuple[str, str]], latency: float = 0.0) -> float:
    """Seconds for one sequential client to make `ops` in order under the documented quotas (the waits the
    quotas impose; call latency is 0 unless given)."""
    control = Bucket(10, 40)  # API Gateway control plane, per account
    own = {"CreateResource": Bucket(5, 5), "PutRestApi": Bucket(1, 1),  # 1 per second, not adjustable
           "GetResources": Bucket(2.5, 5)}  # 5 per 2 seconds
    now, last_deploy = 0.0, -math.inf
    for service, op in ops:
        if service == "apigateway":
            if op == "CreateDeployment":
                now = max(now, last_deploy + 5.0)  # 1 per 5 s, not adjustable
                last_deploy = now
            if op in own:
                now = own[op].take(now)
            now = control.take(now)
        now += latency
    return now


# -- runs -------------------------------------------------------------------------------------------------
@dataclass
class Run:
    ops: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    refused: Counter = field(default_factory=Counter)  # (service, operation): calls the AWS model refused for their
    # rate, which botocore retried
    not_ready: int = 0  # services not READY at the end of a modeled pass
    more: Run | None = None  # the modeled pass that adds ADDED services to the n just onboarded
    passes: int = 1  # passes in this run (ALB mode's ADDED: the one that adds an ALB, the one that routes on it)

    def writes(self, services=WIRED) -> int:
        return sum(1 for s, o in self.ops if s in services and is_mutating(o))

    def reads(self, services=WIRED) -> int:
        return sum(1 for s, o in self.ops if s in services and not is_mutating(o))

    def ddb(self, mutating: bool) -> int:
        return sum(1 for s, o in self.ops if s == "dynamodb" and is_mutating(o) == mutating)

    def count(self, op: str) -> int:
        return sum(1 for _, o in self.ops if o == op)

    def then(self, later: Run) -> Run:
        """This pass and a later one as one run: their calls, times and refusals added, what the later left."""
        return Run([*self.ops, *later.ops], self.seconds + later.seconds, self.refused + later.refused,
                   later.not_ready, passes=self.passes + later.passes)


def world_for(endpoint: str, clients, n: int, room: int = 0, backend: str = "nlb") -> World:
    """n services' stack; `room`: more ECS services (`new-NN`) and pool capacity for them, not yet registered.
    `backend="alb"`: ALB mode, its pool of ALBs made before the pass (`alb_pool`)."""
    w = World(endpoint, clients)
    # an NLB's listeners; an ALB's rules (RulesPerAlb, docs/modes.md). An ALB made for `room` would be deleted by
    # the first pass as an empty member of the pool: ALB mode's room comes from the pool growing itself.
    lbs = max(1, math.ceil((n + room) / 50)) if backend == "nlb" else max(1, math.ceil(n / 100))
    s = w.fresh(load_balancers=lbs if backend == "nlb" else 0,
                services={**{f"svc-{i:03d}": 8080 for i in range(n)}, **{f"new-{i:02d}": 8080 for i in range(room)}})
    # portico runs in the template's default mode: one VPC link v2 for the pool, each integration naming its NLB
    # (the v1 links stay for the scripted console baseline)
    link = local.session(endpoint).client("apigatewayv2", endpoint_url=endpoint).create_vpc_link(
        Name="portico-pool", SubnetIds=w.subnets)["VpcLinkId"]
    # ResourcesPerApi set to the account's raised quota (the emulator's), as the docs tell such an account to
    s = w.settings = replace(s, vpc_link_v2_id=link, vpc_link_version="v2",
                             resources_per_api=int(os.environ.get(RESOURCES) or 300))
    if backend == "alb":
        s = w.settings = alb_pool(w, clients, lbs)
    # The stage-wide settings template.yaml gives every stage (MethodSettings `*/*`, parameter defaults).
    clients.apigateway.update_stage(restApiId=s.rest_api_id, stageName=s.stage, patchOperations=[
        {"op": "replace", "path": f"/*/*/{k}", "value": v} for k, v in (
            ("metrics/enabled", "true"), ("throttling/rateLimit", "1000"), ("throttling/burstLimit", "2000"))])
    return w


def alb_pool(w: World, clients, count: int):
    """ALB mode's pool made before the pass, as for NLBs: the template's ALB and HTTP listener (port 80, 404 when
    no rule matches), then the ALBs portico adds when the pool is full, each made as portico makes it
    (kinds/load_balancer.py: named member_name, tagged, its `pool#` record in the state table), so the pass
    finds them active and its time holds no provisioning. MaxLoadBalancers: the template's default (20), or room
    for one more."""
    elbv2, s = clients.elbv2, w.settings
    state = StateTable(clients.dynamodb, s.state_table)
    arns, listeners = [], []
    for index in range(1, count + 1):
        name = "portico-alb" if index == 1 else member_name(s.stack, index)
        record = {"name": name, "index": index, "type": "application", "nonce": uuid.uuid4().hex}
        tags = [] if index == 1 else [{"Key": "portico:stack", "Value": s.stack},
                                      {"Key": "portico:pool", "Value": name},
                                      {"Key": TOKEN_TAG, "Value": token(record["nonce"], name)}]
        arn = elbv2.create_load_balancer(Name=name, Subnets=w.subnets, SecurityGroups=[w.security_group],
                                         Scheme="internal", Type="application", **({"Tags": tags} if tags else {})
                                         )["LoadBalancers"][0]["LoadBalancerArn"]
        listener = elbv2.create_listener(
            LoadBalancerArn=arn, Protocol="HTTP", Port=80, **({"Tags": tags} if tags else {}),
            DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
                "StatusCode": "404", "ContentType": "application/json", "MessageBody": '{"message": "Not Found"}'}}]
        )["Listeners"][0]["ListenerArn"]
        arns.append(arn)
        listeners.append(listener)
        if index > 1:
            state.record_pool_member({**record, "arn": arn, "listenerArn": listener})
    return replace(s, backend="alb", load_balancer_arns=(arns[0],), alb_listener_arn=listeners[0],
                   vpc_link_ids=(), max_load_balancers=max(20, count + 1))


class Emulator:
    """The local AWS in a process of its own, as `portico local up` runs it: its CPU (moto's Python) does not share
    one interpreter lock with portico's threads, which in one process counted the emulator's time as AWS's. Its
    AWS model is switched over moto-api (aws_model.CONTROL_URL)."""

    def __init__(self, folder: Path):
        self.pid, self.endpoint = server.start_server(None, folder)

    def model(self, on: bool) -> None:
        """The model on (full buckets, no refusals counted) or off."""
        requests.post(f"{self.endpoint}{aws_model.CONTROL_URL}?on={int(on)}", timeout=30).raise_for_status()

    def refusals(self) -> Counter:
        got = requests.get(f"{self.endpoint}{aws_model.CONTROL_URL}", timeout=30)
        got.raise_for_status()
        return Counter({(service, action): calls for service, action, calls in got.json()["refusals"]})

    def peak_mib(self) -> float:
        """The emulator's peak resident memory so far (VmHWM, kB)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024


EMULATOR: Emulator  # the one this run started (main)


@contextmanager
def modeled_aws(portico):
    """The emulator's AWS model on, with full buckets, and portico's pacer on (off elsewhere: moto throttles
    nothing, and its wall time is what the other passes measure)."""
    EMULATOR.model(True)
    portico.pacer.enabled = True
    try:
        yield
    finally:
        EMULATOR.model(False)
        portico.pacer.enabled = False


def run_portico(endpoint: str, base, portico, inj: Injector, n: int, advance, *,
                batched: bool = True, modeled: bool = False, backend: str = "nlb") -> tuple[Run, Run | None]:
    """Onboard n services in one pass, then a no-op pass. `batched=False`: the per-resource path only.
    `modeled`: the pass under the AWS model, portico's pacing sleeping for real, then ADDED more services; in
    NLB mode no sweep after it (the unmodeled pass measures it), in ALB mode the sweep too (its only pass)."""
    routes_import.CREATE_RESOURCE_BURST = 5 if batched else math.inf
    # the pool's load balancers included (made before the timed pass), with room for the ADDED services modeled
    w = world_for(endpoint, base, n, ADDED if modeled else 0, backend)
    names = [f"svc-{i:03d}" for i in range(n)]
    for name in names:
        w.put(name)
    reconciler = Reconciler(portico, w.settings, sleep=time.sleep if modeled else (lambda s: None), on_step=advance)
    with modeled_aws(portico) if modeled else nullcontext():
        onboard, bad = timed_pass(reconciler, inj, names, modeled)
        if modeled:
            more = [f"new-{i:02d}" for i in range(ADDED)]
            for name in more:
                w.put(name)
            EMULATOR.model(True)  # full buckets again
            onboard.more, waiting = timed_pass(reconciler, inj, more, modeled)
            waiting = [s for s, why in waiting.items() if "load balancer provisioning" in why]
            if waiting:  # ALB mode with every ALB full: the pass added an ALB to the pool, the next routes them on it
                again, _ = timed_pass(reconciler, inj, waiting, modeled)
                onboard.more = onboard.more.then(again)
    if modeled and backend == "nlb":
        return onboard, None
    if bad:
        raise SystemExit(f"portico did not onboard every service: {list(bad.items())[:3]}")
    inj.reset_counts()
    t = time.perf_counter()
    reconciler.sweep()  # what the schedule runs: one shard of ≤ 50 services (reconcile.SHARD_SIZE)
    return onboard, Run(list(inj.ops), time.perf_counter() - t)


def timed_pass(reconciler: Reconciler, inj: Injector, names: list[str], modeled: bool) -> tuple[Run, dict[str, str]]:
    """One pass over `names`: its calls, time, throttling errors (modeled) and the services it left not READY."""
    inj.reset_counts()
    calls: list[tuple[float, str, str]] = []
    if modeled and TRACE:
        inj.on_call = lambda service, op: calls.append((time.perf_counter(), service, op))
    t = time.perf_counter()
    try:
        outcome = reconciler.run(names)
    finally:
        inj.on_call = None
    if calls:
        trace(calls, t, time.perf_counter(), len(names))
    run = Run(list(inj.ops), time.perf_counter() - t, refused=EMULATOR.refusals() if modeled else Counter())
    bad = {k: v.message for k, v in outcome.statuses.items() if v.status != "READY"}
    run.not_ready = len(bad)
    return run, bad


def trace(calls: list[tuple[float, str, str]], start: float, end: float, n: int) -> None:
    """Where a modeled pass's time goes: each API call's count and its first and last start, in seconds from the
    pass's start, in the order they began (appended to PORTICO_BENCH_TRACE)."""
    spans: dict[tuple[str, str], list[float]] = {}
    for at, service, op in calls:
        spans.setdefault((service, op), []).append(at - start)
    lines = [f"## a modeled pass of {n} services: {end - start:.1f} s", "| call | count | first | last |",
             "|---|---|---|---|"]
    lines += [f"| {service} {op} | {len(ts)} | {ts[0]:.1f} | {ts[-1]:.1f} |"
              for (service, op), ts in sorted(spans.items(), key=lambda kv: kv[1][0])]
    with open(TRACE, "a") as out:
        out.write("\n".join(lines) + "\n\n")


TRACE = os.environ.get("PORTICO_BENCH_TRACE")  # a file: where each modeled pass's time goes (trace)
ADDED = 25  # services added to a stack of N in one modeled pass
BAD_ROUTE_BATCH = 100


def run_bad_route(endpoint: str, base, portico, inj: Injector, n: int = BAD_ROUTE_BATCH) -> tuple[int, dict[str, str]]:
    """One route of a batch of n refused by AWS (the answer injected, in AWS's words: docs/import.md)."""
    routes_import.CREATE_RESOURCE_BURST = 5
    w = world_for(endpoint, base, n)
    names = [f"svc-{i:03d}" for i in range(n)]
    for name in names:
        w.put(name)
    bad = names[n // 2]
    inj.fail("error", "apigateway", "PutRestApi", times=None, code="BadRequestException", needle=f'"/{bad}"',
             message=f"Errors found during import:\n\tUnable to put integration on 'ANY' for resource at path "
                     f"'/{bad}': Invalid HTTP endpoint specified for URI")
    try:
        outcome = Reconciler(portico, w.settings, sleep=lambda s: None).run(names)
    finally:
        inj.clear()
    ready = sum(v.status == "READY" for v in outcome.statuses.values())
    return ready, {k: v.message for k, v in outcome.statuses.items() if v.status == "FAILED"}


def run_baseline(endpoint: str, base, portico, inj: Injector, n: int, advance) -> Run:
    """The console procedure, scripted: every service wired on its own and deployed on its own."""
    w = world_for(endpoint, base, n)
    s, c = w.settings, portico
    inj.reset_counts()
    t = time.perf_counter()
    dns = {lb["LoadBalancerArn"]: lb["DNSName"] for lb in c.elbv2.describe_load_balancers(
        LoadBalancerArns=list(s.load_balancer_arns))["LoadBalancers"]}
    for i in range(n):
        name, lb, link = f"svc-{i:03d}", s.load_balancer_arns[i // 50], s.vpc_link_ids[i // 50]
        port = 10000 + i % 50
        tg = c.elbv2.create_target_group(Name=f"base-{name}", Protocol="TCP", Port=8080, VpcId=s.vpc_id,
                                         TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]
        c.elbv2.create_listener(LoadBalancerArn=lb, Protocol="TCP", Port=port,
                                DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
        svc = c.ecs.describe_services(cluster="demo", services=[name])["services"][0]
        c.ecs.update_service(cluster="demo", service=name, loadBalancers=[*svc.get("loadBalancers", []), {
            "targetGroupArn": tg, "containerName": "app", "containerPort": 8080}])
        root = next(r["id"] for r in c.apigateway.get_resources(restApiId=s.rest_api_id, limit=500)["items"]
                    if r["path"] == "/")
        leaf = c.apigateway.create_resource(restApiId=s.rest_api_id, parentId=root, pathPart=name)["id"]
        proxy = c.apigateway.create_resource(restApiId=s.rest_api_id, parentId=leaf, pathPart="{proxy+}")["id"]
        for rid, suffix, params in ((leaf, "/", {}), (proxy, "/{proxy}", {"proxy": True})):
            c.apigateway.put_method(restApiId=s.rest_api_id, resourceId=rid, httpMethod="ANY",
                                    authorizationType="NONE", apiKeyRequired=True, **(
                                        {"requestParameters": {"method.request.path.proxy": True}} if params else {}))
            c.apigateway.put_integration(
                restApiId=s.rest_api_id, resourceId=rid, httpMethod="ANY", type="HTTP_PROXY",
                integrationHttpMethod="ANY", uri=f"http://{dns[lb]}:{port}{suffix}", connectionType="VPC_LINK",
                connectionId=link, **({"requestParameters": {
                    "integration.request.path.proxy": "method.request.path.proxy"}} if params else {}))
        c.apigateway.create_deployment(restApiId=s.rest_api_id, stageName=s.stage)
        advance(i + 1, n)
    return Run(list(inj.ops), time.perf_counter() - t)


def import_times(runs: int = 3) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from scripts.artifact_sizes import DUMMY_ENV

    out = {}
    for module in HANDLERS:
        code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
        times = []
        for _ in range(runs):
            res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 env={**os.environ, **DUMMY_ENV}, cwd=ROOT)
            if res.returncode:
                break
            times.append(float(res.stdout.strip().splitlines()[-1]))
        if times:
            out[module] = statistics.median(times)
    return out


def artifact_sizes() -> dict[str, int]:
    build = ROOT / ".aws-sam" / "build"
    if not build.is_dir():
        return {}
    return {d.name: sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
            for d in sorted(build.iterdir()) if d.is_dir()}


# -- report -----------------------------------------------------------------------------------------------
def table(rows: list[dict]) -> str:
    head = ["N", "", "mutating ELB/ECS/API GW calls", "target ≤ 3N+5", "reads", "CloudWatch writes",
            "DynamoDB writes / reads", "target writes ≤ 1.3N+5", "deployments", "quota-simulated time",
            "wall time (moto)", "modeled time (AWS model)", "throttling errors"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        n, modeled = r["n"], r["modeled"]
        alb = r.get("mode") == "alb"
        mode = ", ALB mode" if alb else ""
        for label, run, sim, target in ((f"portico{mode}", r["portico"], r["sim_portico"], True),
                                        ("per resource", r["per_resource"], r["sim_per_resource"], False),
                                        ("baseline", r["baseline"], r["sim_baseline"], False)):
            if run is None:  # N above PORTICO_BENCH_COMPARE_MAX
                continue
            ddb = f"{run.ddb(True)} / {run.ddb(False)}" if label != "baseline" else "0 / 0"
            if target and run is not modeled:  # the modeled pass lasts longer: more heartbeats (claims renewed)
                ddb += f" (modeled pass: {modeled.ddb(True)})"
            model = (f"{modeled.seconds:.1f} s" + (f" ({modeled.not_ready} not READY)" if modeled.not_ready else "")
                     + f" | {modeled.refused.total()}") if target else " | "
            lines.append(f"| {n} | {label} | {run.writes()} | {3 * n + 5 if target else ''} | {run.reads()} | "
                         f"{run.writes(('cloudwatch',))} | {ddb} | {math.floor(1.3 * n) + 5 if target else ''} | "
                         f"{run.count('CreateDeployment')} | {sim:.1f} s | {'' if alb else f'{run.seconds:.1f} s'} | "
                         f"{model} |")
        more = modeled.more
        if more is not None:
            passes = f" in {more.passes} passes" if more.passes > 1 else ""
            lines.append(f"| {n} | {ADDED} more{mode}{passes}, AWS model (target ≤ 10 s) | {more.writes()} | "
                         f"{3 * ADDED + 5} | "
                         f"{more.reads()} | {more.writes(('cloudwatch',))} | {more.ddb(True)} / {more.ddb(False)} | "
                         f"{math.floor(1.3 * ADDED) + 5} | {more.count('CreateDeployment')} | | | {more.seconds:.1f} s"
                         + (f" ({more.not_ready} not READY)" if more.not_ready else "")
                         + f" | {more.refused.total()} |")
        noop, lbs = r["noop"], max(1, math.ceil((n + ADDED) / 100) if alb else math.ceil(n / 50))
        lines.append(f"| {n} | no-op sweep{mode} | {noop.writes()} | 0 | "
                     f"{noop.reads()} (target ≤ 15 + 2 × {lbs} LBs) | "
                     f"{noop.writes(('cloudwatch',))} | {noop.ddb(True)} / {noop.ddb(False)} | 1 (the sweep counter) | "
                     f"{noop.count('CreateDeployment')} | | {noop.seconds:.2f} s | | |")
    return "\n".join(lines)


def bad_route_line(ready: int, failed: dict[str, str], n: int = 100) -> str:
    named = "; ".join(f"{s}: {m}" for s, m in sorted(failed.items()))
    return f"\nOne route of a batch of {n} refused by AWS: {ready} READY, {len(failed)} FAILED ({named}).\n"


def refused_line(rows: list[dict]) -> str:
    """Which calls the AWS model refused in each modeled pass (botocore retried them)."""
    def named(run: Run) -> str:
        return ", ".join(f"{op} {k}" for (_, op), k in run.refused.most_common()) or "none"
    return "".join(f"\nThrottling errors under the AWS model, N={r['n']}{label(r)}: {named(r['modeled'])}"
                   + (f" (25 more: {named(r['modeled'].more)})" if r["modeled"].more else "") + "." for r in rows)


def label(row: dict) -> str:
    return " (ALB mode)" if row.get("mode") == "alb" else ""


def floors(n: int) -> tuple[float, float]:
    """Seconds AWS's documented rates (portico.pace.RATES) impose on onboarding n services: the busiest bucket's
    (ELBv2's mutating calls: a target group and a listener each), and the pass's own order: its DescribeServices
    (one per 10) before the plan, then the ELBv2 calls, with each service's DescribeTaskDefinition before its
    chain (observed.read_ecs leaves them to apply past ECS's read burst; up to it, observation reads them within the
    burst) and its UpdateService after it, both under them: ECS's read and service buckets refill at 20 a second,
    and the chains draw on each at 5 a second, one call per 2 ELBv2 calls."""
    def drain(bucket: str, calls: float) -> float:
        burst, rate = RATES[bucket]
        return max(0.0, calls - burst) / rate

    elb = drain("ELBV2_MUTATING", 2 * n)
    return elb, drain("ECS_READ", math.ceil(n / 10)) + elb


def floor_line(rows: list[dict]) -> str:
    return "".join(f"\nFloor from AWS's documented rates, N={n} (either mode: a target group and a listener or a "
                   f"rule each): {a:.1f} s (ELBv2's mutating bucket alone), {b:.1f} s (DescribeServices, then "
                   "ELBv2 with the task definitions and UpdateService under it, in the pass's order)."
                   for n in dict.fromkeys(r["n"] for r in rows) for a, b in [floors(n)])


def chunk_seconds(n: int = 2000) -> float:
    """CPU time of splitting n services' routes into import documents (routes_import._chunks), linear in n."""
    def routes(i: int) -> list[dict]:
        return [{"path": f"/svc-{i:04d}{suffix}", "httpMethod": "ANY", "authorizationType": "API_KEY",
                 "apiKeyRequired": True, "uri": f"http://nlb-{i // 50}.elb.us-east-1.amazonaws.com:{10000 + i % 50}/"
                 f"{'{proxy}' if suffix else ''}", "connectionId": "vpclink1", "proxy": bool(suffix)}
                for suffix in ("", "/{proxy+}")]
    services = {f"svc-{i:04d}": routes(i) for i in range(n)}
    t = time.process_time()
    routes_import._chunks("portico", services)
    return time.process_time() - t


def extras(imports: dict[str, float], sizes: dict[str, int]) -> str:
    out = ["", "| handler | cold import |", "|---|---|"]
    out += [f"| `{m}` | {s * 1000:.0f} ms |" for m, s in imports.items()]
    if sizes:
        out += ["", "| artifact (.aws-sam/build, unzipped) | size |", "|---|---|"]
        out += [f"| {name} | {size / 1e6:.1f} MB |" if size >= 1e5 else f"| {name} | {size / 1e3:.1f} kB |"
                for name, size in sizes.items()]
    else:
        out += ["", "Artifact sizes: run `sam build` (or `make build`) first; `.aws-sam/build` does not exist."]
    return "\n".join(out)


def write(text: str) -> Path:
    """Between the markers of README.md, else of docs/bench.md; PORTICO_BENCH_OUT=path writes that file instead
    (made with the markers when it has none). The text around the markers is kept."""
    out = os.environ.get("PORTICO_BENCH_OUT")
    candidates = [Path(out) if Path(out).is_absolute() else ROOT / out] if out else [ROOT / "README.md",
                                                                                      ROOT / "docs" / "bench.md"]
    for path in candidates:
        body = path.read_text() if path.exists() else ""
        if START in body and END in body:
            before, rest = body.split(START, 1)
            path.write_text(f"{before}{START}\n{text}\n{END}{rest.split(END, 1)[1]}")
            return path
    path = candidates[-1]
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"# `make bench` results\n\n{START}\n{text}\n{END}\n")
    return path


def nlb_row(endpoint: str, base, portico, inj: Injector, n: int) -> dict:
    """NLB mode (the template's default): the pass on moto and its no-op sweep, the same pass modeled (and ADDED
    more), and up to COMPARE_MAX the per-resource path and the baseline."""
    with progress(f"N={n}: portico") as advance:  # a bar on a terminal only
        onboard, noop = run_portico(endpoint, base, portico, inj, n, advance)
    peak = EMULATOR.peak_mib()
    with progress(f"N={n}: portico, AWS model") as advance:
        modeled, _ = run_portico(endpoint, base, portico, inj, n, advance, modeled=True)
    per_resource = baseline = None
    if n <= COMPARE_MAX:
        with progress(f"N={n}: per resource") as advance:
            per_resource, _ = run_portico(endpoint, base, portico, inj, n, advance, batched=False)
        with progress(f"N={n}: baseline") as advance:
            baseline = run_baseline(endpoint, base, portico, inj, n, advance)
    row = {"n": n, "mode": "nlb", "portico": onboard, "noop": noop, "baseline": baseline, "modeled": modeled,
           "per_resource": per_resource, "sim_portico": simulate(onboard.ops), "peak_mib": peak,
           "sim_per_resource": simulate(per_resource.ops) if per_resource else 0.0,
           "sim_baseline": simulate(baseline.ops) if baseline else 0.0}
    report(row)
    return row


def alb_row(endpoint: str, base, portico, inj: Injector, n: int) -> dict:
    """ALB mode: the modeled pass only (its calls are counted as on moto), ADDED more, and the no-op sweep."""
    with progress(f"N={n}: portico, ALB mode, AWS model") as advance:
        modeled, noop = run_portico(endpoint, base, portico, inj, n, advance, modeled=True, backend="alb")
    row = {"n": n, "mode": "alb", "portico": modeled, "noop": noop, "baseline": None, "modeled": modeled,
           "per_resource": None, "sim_portico": simulate(modeled.ops), "peak_mib": EMULATOR.peak_mib(),
           "sim_per_resource": 0.0, "sim_baseline": 0.0}
    report(row)
    return row


def report(row: dict) -> None:
    onboard, modeled = row["portico"], row["modeled"]
    print(f"N={row['n']} ({row['mode']}): portico {onboard.writes()} writes in {onboard.seconds:.1f} s; under the "
          f"AWS model {modeled.seconds:.1f} s, {modeled.not_ready} not READY;{refused_line([row])}", file=sys.stderr)
    print(f"  portico calls: {dict(Counter(o for _, o in onboard.ops).most_common())}", file=sys.stderr)


def main() -> int:
    logging.disable(logging.WARNING)
    os.environ.update(local.CREDENTIALS, AWS_DEFAULT_REGION=local.REGION)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
    # API Gateway's quotas are simulated on the recorded calls with a fake clock (`simulate`), so the emulator's
    # own 1-per-5-s CreateDeployment rule is off here: the baseline's 300 deployments would take 25 min of wall time.
    os.environ[DEPLOY_INTERVAL] = "0"
    # 300 services are 600 resources: past API Gateway's default of 300 per API, which the emulator enforces.
    # An account at that size raises it in Service Quotas ("Resources per API", adjustable:
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html); the bench runs as that account.
    os.environ[RESOURCES] = str(2 * (max(*SIZES, BAD_ROUTE_BATCH) + ADDED) + 10)
    global EMULATOR
    folder = tempfile.TemporaryDirectory(prefix="portico-bench-")  # the emulator's moto.log, removed at the end
    EMULATOR = Emulator(Path(folder.name))
    endpoint = EMULATOR.endpoint
    try:
        base, portico = make_clients(endpoint), make_clients(endpoint)
        base.pacer.enabled = portico.pacer.enabled = False  # the set-up is not portico's; portico's is on when modeled
        inj = Injector().attach(portico)
        rows = []
        for n in SIZES:
            if "nlb" in MODES:
                rows.append(nlb_row(endpoint, base, portico, inj, n))
            if "alb" in MODES:
                rows.append(alb_row(endpoint, base, portico, inj, n))
        ready, failed = run_bad_route(endpoint, base, portico, inj)
    finally:
        server.stop_server(EMULATOR.pid)
        folder.cleanup()
    memory = ", ".join(f"{r['n']}{label(r)}: {r['peak_mib']:,.0f} MiB" for r in rows)
    text = (table(rows) + "\n" + bad_route_line(ready, failed)
            + refused_line(rows) + floor_line(rows)
            + f"\nPeak memory of the emulator's process after each N's portico pass: {memory}."
            + f"\nSplitting 2,000 services' routes into import documents: {chunk_seconds():.2f} s of CPU.\n"
            + extras(import_times(), artifact_sizes()))
    print(text)
    print(f"\nwritten to {write(text)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
