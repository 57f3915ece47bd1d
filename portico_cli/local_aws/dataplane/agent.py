"""The local ECS agent: keeps each ACTIVE ECS service's tasks running and registered where ECS registers them.

For every service of every cluster it runs `desiredCount` tasks (at most MAX_TASKS each) as local processes,
gives each an address in the service's first awsvpc subnet (as a task ENI gets one), and registers
`{Id: address, Port: containerPort}` in every target group of the service's `loadBalancers` whose container
matches, the way ECS does for awsvpc tasks. A target group that leaves `loadBalancers`, a stopped service
and a dead process are deregistered. `addresses` maps a task's (address, containerPort) to its loopback port:
the local network the NLB forwards over.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import time
from collections.abc import Callable
from pathlib import Path

from botocore.exceptions import ClientError

from .tasks import Task, command_for, free_port, launch, wait_listening

MAX_TASKS = 3
# A task that exits is started again after a back-off doubling from 1 s to MAX_BACKOFF s while it keeps exiting
# within STABLE_SECONDS of its start: the local agent's own rule (ECS's restart pacing is not reproduced).
MAX_BACKOFF, STABLE_SECONDS = 60.0, 30.0
log = logging.getLogger(__name__)


class Agent:
    def __init__(self, ecs, ec2, elbv2, *, logs: Path | None = None,
                 report_running: Callable[[str, int], None] = lambda arn, n: None):
        self.ecs, self.ec2, self.elbv2, self.logs = ecs, ec2, elbv2, logs
        self.report_running = report_running  # (service ARN, tasks running): what ECS shows as runningCount
        self.tasks: dict[str, list[Task]] = {}  # "cluster/service" -> tasks
        self._task_defs: dict[str, dict] = {}  # revisions are immutable: read once
        self._ids = itertools.count(1)
        self.errors: dict[str, str] = {}  # "cluster/service" -> why it has no task
        self._starting: list[Task] = []
        self._arns: dict[str, str] = {}  # "cluster/service" -> service ARN
        self._backoff: dict[str, tuple[int, float]] = {}  # "cluster/service" -> (exits in a row, no start before)

    @property
    def addresses(self) -> dict[tuple[str, int], int]:
        return {(t.ip, t.container_port): t.host_port for ts in self.tasks.values() for t in ts}

    def services(self) -> dict[str, dict]:
        out = {}
        for cluster in self.ecs.get_paginator("list_clusters").paginate().build_full_result().get("clusterArns", []):
            arns = self.ecs.get_paginator("list_services").paginate(cluster=cluster).build_full_result()
            arns = arns.get("serviceArns", [])
            for i in range(0, len(arns), 10):
                for s in self.ecs.describe_services(cluster=cluster, services=arns[i:i + 10])["services"]:
                    if s.get("status") == "ACTIVE":
                        out[f"{cluster.rsplit('/', 1)[-1]}/{s['serviceName']}"] = s
        return out

    def sync(self) -> None:
        services = self.services()
        for key in [k for k in self.tasks if k not in services]:
            self._stop(key, self.tasks.pop(key))
        self._starting: list[Task] = []
        for key, svc in services.items():
            tasks = self.tasks.setdefault(key, [])
            for t in [t for t in tasks if not t.alive()]:
                self._exited(key, t)
                self._stop(key, [t])
            want = min(int(svc.get("desiredCount") or 0), MAX_TASKS)
            while len(tasks) > want:
                self._stop(key, [tasks[-1]])
            if len(tasks) < want and time.monotonic() >= self._backoff.get(key, (0, 0.0))[1]:
                self._starting += self._start(key, svc, want - len(tasks))
        ready = wait_listening(self._starting)
        for t in self._starting:
            if t in ready:
                self.tasks[t.service].append(t)
            else:  # exited, or never listened (stopped): a crash all the same
                self._exited(t.service, t)
        for key, svc in services.items():
            self._register(svc, self.tasks.get(key, []))
            self._arns[key] = svc["serviceArn"]
            if svc.get("runningCount") != len(self.tasks.get(key, [])):
                self.report_running(svc["serviceArn"], len(self.tasks.get(key, [])))

    def _exited(self, key: str, t: Task) -> None:
        """A task's process ended on its own: say so in the data plane's log (with its exit code and log file) and
        back off its restart while it keeps crashing."""
        ran = time.monotonic() - t.started
        exits = self._backoff.get(key, (0, 0.0))[0] + 1 if ran < STABLE_SECONDS else 1
        wait = min(2.0 ** (exits - 1), MAX_BACKOFF)
        self._backoff[key] = (exits, time.monotonic() + wait)
        where = f"; its output: {self._log(key, t.slot)}" if self.logs else ""
        log.warning(f"task {t.id} of ECS service {key} exited with code {t.proc.returncode} after {ran:.1f} s "
                    f"(exit {exits} in a row); starting it again in {wait:.0f} s{where}")

    def _log(self, key: str, slot: int) -> Path | None:
        """One log file per task slot of a service, appended to by each task that fills the slot."""
        return self.logs / f"task-{key.replace('/', '-')}-{slot}.log" if self.logs else None

    def _container(self, svc: dict) -> dict:
        arn = svc["taskDefinition"]
        if arn not in self._task_defs:
            self._task_defs[arn] = self.ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        containers = self._task_defs[arn]["containerDefinitions"]
        lb_names = {lb.get("containerName") for lb in svc.get("loadBalancers", [])}
        with_ports = [c for c in containers if c.get("portMappings")]
        return next((c for c in with_ports if c["name"] in lb_names), with_ports[0] if with_ports else containers[0])

    def _start(self, key: str, svc: dict, count: int) -> list[Task]:
        try:
            container = self._container(svc)
            port = int((container.get("portMappings") or [{}])[0].get("containerPort", 0))
            if not port:
                raise ValueError(f"container {container['name']!r} maps no port")
        except (ClientError, ValueError, KeyError) as exc:
            self.errors[key] = str(exc)
            return []
        started: list[Task] = []
        free = (i for i in itertools.count()  # the lowest slots no task of the service holds
                if i not in {t.slot for t in [*self.tasks.get(key, []), *self._starting, *started] if t.service == key})
        for _ in range(count):
            task_id, slot = f"{next(self._ids):08x}", next(free)
            host_port = free_port()
            try:
                argv, env = command_for(container, svc["serviceName"], host_port, task_id)
            except ValueError as exc:
                self.errors[key] = str(exc)
                return started
            started.append(Task(task_id, key, self._address(svc, [*self._starting, *started]), port, host_port,
                                launch(argv, env, self._log(key, slot)), slot=slot))
        self.errors.pop(key, None)
        return started

    def _address(self, svc: dict, starting: list[Task]) -> str:
        """A free host address of the service's first subnet, past the 4 AWS reserves at its start."""
        subnets = ((svc.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}).get("subnets") or []
        cidr = (self.ec2.describe_subnets(SubnetIds=subnets[:1])["Subnets"][0]["CidrBlock"] if subnets
                else "10.0.0.0/16")
        used = {t.ip for ts in [*self.tasks.values(), starting] for t in ts}
        hosts = ipaddress.ip_network(cidr).hosts()
        return next(str(ip) for i, ip in enumerate(hosts) if i >= 3 and str(ip) not in used)

    def _register(self, svc: dict, tasks: list[Task]) -> None:
        for t in tasks:
            want = {lb["targetGroupArn"] for lb in svc.get("loadBalancers", [])
                    if lb.get("targetGroupArn") and int(lb.get("containerPort", 0)) == t.container_port}
            for arn in want - t.registered:
                self.elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": t.ip, "Port": t.container_port}])
            for arn in t.registered - want:
                self._deregister(arn, t)
            t.registered = want

    def _deregister(self, arn: str, t: Task) -> None:
        try:
            self.elbv2.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": t.ip, "Port": t.container_port}])
        except ClientError as exc:  # the target group is gone, or the target already left it: nothing to undo
            log.debug("deregister %s from %s: %s", t.ip, arn, exc)

    def _stop(self, key: str, tasks: list[Task]) -> None:
        for t in tasks:
            for arn in t.registered:
                self._deregister(arn, t)
            t.registered = set()
            t.stop()
            if t in self.tasks.get(key, []):
                self.tasks[key].remove(t)

    def stop(self) -> None:
        for key in list(self.tasks):
            self._stop(key, list(self.tasks[key]))
            if key in self._arns:
                self.report_running(self._arns[key], 0)
        self.tasks.clear()
