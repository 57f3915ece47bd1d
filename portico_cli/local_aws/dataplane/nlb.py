"""Local Network Load Balancers: each TCP listener is a real loopback TCP forwarder, with health checks.

A listener accepts on a free 127.0.0.1 port and pipes each connection to one routable target of its default
`forward` target group, round robin: a healthy target; if every registered target is unhealthy, any of them
(NLB fails open); none registered or all still `initial` → the connection is reset.
https://docs.aws.amazon.com/elasticloadbalancing/latest/network/target-group-health-checks.html

Health checks use the target group's own settings (TCP connect or HTTP GET of HealthCheckPath with the
Matcher's codes, HealthCheckIntervalSeconds, HealthCheckTimeoutSeconds, Healthy/UnhealthyThresholdCount):
a new target is `initial` until HealthyThresholdCount checks in a row pass, then `healthy`; `unhealthy`
after UnhealthyThresholdCount failures in a row. The first check runs when the target is registered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

REASONS = {
    "initial": ("Elb.RegistrationInProgress", "Target registration is in progress"),
    "unhealthy": ("Target.FailedHealthChecks", "Health checks failed"),
}


@dataclass
class TargetState:
    state: str = "initial"
    passes: int = 0
    fails: int = 0
    reason: tuple[str, str] | None = REASONS["initial"]

    def record(self, ok: bool, why: tuple[str, str] | None, healthy_n: int, unhealthy_n: int) -> bool:
        """Count one check; True when the state changed."""
        before = self.state
        if ok:
            self.passes, self.fails = self.passes + 1, 0
            if self.passes >= healthy_n:
                self.state, self.reason = "healthy", None
        else:
            self.passes, self.fails = 0, self.fails + 1
            if self.state == "unhealthy" or self.fails >= unhealthy_n:
                self.state, self.reason = "unhealthy", why or REASONS["unhealthy"]
        return self.state != before


@dataclass
class TargetGroup:
    arn: str
    settings: dict
    targets: dict[tuple[str, int], TargetState] = field(default_factory=dict)
    task: asyncio.Task | None = None
    flows: dict[tuple[str, int], set[asyncio.StreamWriter]] = field(default_factory=dict)
    _rr: itertools.count = field(default_factory=itertools.count)

    def routable(self) -> list[tuple[str, int]]:
        healthy = [t for t, s in self.targets.items() if s.state == "healthy"]
        if healthy:
            return healthy
        states = {s.state for s in self.targets.values()}
        return list(self.targets) if states == {"unhealthy"} else []

    def pick(self) -> tuple[str, int] | None:
        targets = self.routable()
        return targets[next(self._rr) % len(targets)] if targets else None


class LoadBalancers:
    """Listeners and target groups of the local NLBs, updated by `apply` from what the control plane says."""

    def __init__(self, resolve: Callable[[tuple[str, int]], int | None], report: Callable[[TargetGroup], None]):
        self.resolve, self.report = resolve, report  # (address, port) -> loopback port; health changed
        self.listeners: dict[str, tuple[asyncio.Server, int, str]] = {}  # listener ARN -> (server, port, tg)
        self.groups: dict[str, TargetGroup] = {}
        self.client = httpx.AsyncClient(timeout=5.0)

    def target_port(self, group_arn: str) -> int | None:
        """The loopback port of one routable target of the group (an ALB rule's forward), round robin."""
        group = self.groups.get(group_arn)
        target = group.pick() if group else None
        return self.resolve(target) if target else None

    def local_port(self, listener_arn: str) -> int | None:
        entry = self.listeners.get(listener_arn)
        return entry[1] if entry else None

    async def apply(self, listeners: dict[str, str], groups: dict[str, dict], targets: dict[str, list]) -> None:
        """listeners: ARN -> forward target group ARN; groups: ARN -> settings; targets: ARN -> [(id, port)]."""
        for arn in [a for a in self.listeners if a not in listeners]:
            server, _, _ = self.listeners.pop(arn)
            server.close()
        for arn, tg in listeners.items():
            if arn in self.listeners:
                server, port, _ = self.listeners[arn]
                self.listeners[arn] = (server, port, tg)
                continue
            server = await asyncio.start_server(lambda r, w, a=arn: self._forward(a, r, w), "127.0.0.1", 0)
            self.listeners[arn] = (server, server.sockets[0].getsockname()[1], tg)
        for arn in [a for a in self.groups if a not in groups]:
            self._drop(self.groups.pop(arn))
        for arn, settings in groups.items():
            group = self.groups.setdefault(arn, TargetGroup(arn, settings))
            group.settings = settings
            registered = {(i, int(p)) for i, p in targets.get(arn, [])}
            changed = registered != set(group.targets)
            for gone in set(group.flows) - registered:  # a deregistered target's connections are closed
                for w in group.flows.pop(gone):
                    w.transport.abort()
            group.targets = {t: group.targets.get(t) or TargetState() for t in registered}
            if changed:
                self.report(group)
                self._drop(group)  # a new target is checked at once
            if group.task is None and settings.get("HealthCheckEnabled", True):
                group.task = asyncio.create_task(self._check_loop(group))

    @staticmethod
    def _drop(group: TargetGroup) -> None:
        if group.task:
            group.task.cancel()
            group.task = None

    async def _forward(self, listener_arn: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        entry = self.listeners.get(listener_arn)
        group = self.groups.get(entry[2]) if entry else None
        target = group.pick() if group else None
        port = self.resolve(target) if target else None
        if port is None:
            writer.transport.abort()  # what a client sees of an NLB with nothing to route to: a reset
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        except (OSError, TimeoutError):
            writer.transport.abort()
            return
        flows = group.flows.setdefault(target, set())
        flows.update((writer, up_writer))
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except asyncio.CancelledError:  # the loop is stopping
            for w in (writer, up_writer):
                w.transport.abort()
        finally:
            flows.difference_update((writer, up_writer))

    async def _check_loop(self, group: TargetGroup) -> None:
        while True:
            s = group.settings  # as last read: a modified target group applies from the next check
            results = await asyncio.gather(*(self._check(group, t) for t in list(group.targets)))
            healthy_n = int(s.get("HealthyThresholdCount") or 5)
            unhealthy_n = int(s.get("UnhealthyThresholdCount") or 2)
            changed = False
            for target, (ok, why) in zip(list(group.targets), results, strict=False):
                state = group.targets.get(target)
                if state is not None:
                    changed |= state.record(ok, why, healthy_n, unhealthy_n)
            if changed:
                self.report(group)
            await asyncio.sleep(float(s.get("HealthCheckIntervalSeconds") or 30))

    async def _check(self, group: TargetGroup, target: tuple[str, int]) -> tuple[bool, tuple[str, str] | None]:
        s = group.settings
        timeout = float(s.get("HealthCheckTimeoutSeconds") or 10)
        hc_port = s.get("HealthCheckPort") or "traffic-port"
        addr = target if hc_port == "traffic-port" else (target[0], int(hc_port))
        port = self.resolve(addr)
        if port is None:
            return False, ("Target.Timeout", "Request timed out")
        if s.get("HealthCheckProtocol", "TCP") in ("HTTP", "HTTPS"):
            try:
                resp = await self.client.get(f"http://127.0.0.1:{port}{s.get('HealthCheckPath') or '/'}",
                                             timeout=timeout)
            except httpx.TimeoutException:
                return False, ("Target.Timeout", "Request timed out")
            except httpx.HTTPError:
                return False, REASONS["unhealthy"]
            if _matches(resp.status_code, (s.get("Matcher") or {}).get("HttpCode") or "200-399"):
                return True, None
            return False, ("Target.ResponseCodeMismatch", f"Health checks failed with these codes: "
                                                          f"[{resp.status_code}]")
        try:
            _, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
            w.close()
            return True, None
        except (OSError, TimeoutError):
            return False, REASONS["unhealthy"]

    async def close(self) -> None:
        for server, _, _ in self.listeners.values():
            server.close()
        for group in self.groups.values():
            self._drop(group)
        self.listeners.clear()
        await self.client.aclose()


def _matches(code: int, matcher: str) -> bool:
    """`200`, `200,202`, `200-299` (the Matcher's HttpCode forms)."""
    for part in matcher.split(","):
        lo, _, hi = part.strip().partition("-")
        if int(lo) <= code <= int(hi or lo):
            return True
    return False


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
