"""The local data plane: ECS agent + NLB listeners + API gateway, in one asyncio loop on its own thread.

`DataPlane(endpoint, rest_api_id).start()` serves the gateway on 127.0.0.1 and, every `interval` seconds,
runs one pass: the agent converges tasks and target registrations, the control plane is read again, NLB
listeners and health checks follow it, the gateway serves the new snapshot, and the metrics of the requests
served since the last pass are published. `sync()` runs a pass now and waits for it. `stop()` ends every
task process, listener and thread it started. All boto3 calls run on one worker thread, one at a time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import uvicorn
from botocore.config import Config

from ..account import CREDENTIALS, REGION, session
from ..emulator.dataplane import HEALTH_URL, RUNNING_URL
from . import controlplane
from .agent import Agent
from .gateway import Gateway
from .metrics import publish
from .nlb import LoadBalancers, TargetGroup

log = logging.getLogger(__name__)


class DataPlane:
    def __init__(self, endpoint: str, rest_api_id: str, *, port: int = 0, interval: float = 1.0,
                 logs: Path | None = None, state_file: Path | None = None):
        self.endpoint, self.rest_api_id, self.interval, self.logs = endpoint, rest_api_id, interval, logs
        self.state_file, self._state = state_file, ""
        s = session(endpoint)
        cfg = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)
        c = {n: s.client(n, endpoint_url=endpoint, config=cfg) for n in ("apigateway", "apigatewayv2", "elbv2",
                                                                         "ecs", "ec2", "cloudwatch")}
        self.apigateway, self.elbv2, self.cloudwatch = c["apigateway"], c["elbv2"], c["cloudwatch"]
        self.apigatewayv2 = c["apigatewayv2"]
        self.agent = Agent(c["ecs"], c["ec2"], c["elbv2"], logs=logs, report_running=self._post_running)
        self.http = httpx.Client(trust_env=False, timeout=10)
        self.io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataplane-io")
        self.jwks: dict[str, dict] = {}
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind(("127.0.0.1", port))
        self.port = self._sock.getsockname()[1]
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="dataplane", daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def invoke_url(self, stage: str, path: str = "") -> str:
        return f"{self.url}/{stage}{path}"

    def start(self, timeout: float = 60.0) -> DataPlane:
        self._thread.start()
        if not self._ready.wait(timeout) or self.error:
            raise RuntimeError(f"the local data plane did not start: {self.error}")
        return self

    def sync(self, timeout: float = 60.0) -> None:
        asyncio.run_coroutine_threadsafe(self._sync(), self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(30)
        self.io.submit(self.agent.stop).result(60)
        self.io.shutdown(wait=True)
        self.http.close()
        self._sock.close()

    def __enter__(self) -> DataPlane:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the loop --------------------------------------------------------------------------------------
    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stopping, self._lock = asyncio.Event(), asyncio.Lock()
        self.lbs = LoadBalancers(lambda addr: self.agent.addresses.get(addr), self._report)
        self.gateway = Gateway(local_port=self.lbs.local_port, target_port=self.lbs.target_port, jwks=self.jwks.get,
                               secrets={CREDENTIALS["AWS_ACCESS_KEY_ID"]: CREDENTIALS["AWS_SECRET_ACCESS_KEY"]})
        server = uvicorn.Server(uvicorn.Config(self.gateway.app, log_level="warning", access_log=False,
                                               lifespan="off", interface="asgi3", proxy_headers=False,
                                               server_header=False))
        serving = asyncio.create_task(server.serve(sockets=[self._sock]))
        try:
            await self._sync()
        except Exception as exc:  # noqa: BLE001 - reported by start()
            self.error = exc
        self._ready.set()
        ticker = asyncio.create_task(self._tick())
        await self._stopping.wait()
        ticker.cancel()
        server.should_exit = True
        await serving
        await self.lbs.close()
        await self.gateway.client.aclose()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._sync()
            except Exception:  # noqa: BLE001 - a pass that fails is retried on the next tick
                log.exception("data plane pass failed")

    async def _io(self, fn, *args):
        return await self.loop.run_in_executor(self.io, fn, *args)

    async def _sync(self) -> None:
        async with self._lock:
            await self._io(self.agent.sync)
            snap = await self._io(controlplane.read, self.apigateway, self.elbv2, self.rest_api_id,
                                   self.apigatewayv2)
            await self._io(self._fetch_jwks, snap)
            await self.lbs.apply(snap.forwards, snap.groups, snap.targets)
            self.gateway.snapshot = snap
            samples, self.gateway.samples = self.gateway.samples, []
            if samples:
                await self._io(publish, self.cloudwatch, snap.api_name, samples)
            self._write_state()

    def state(self) -> dict:
        """What runs: the gateway's URL and each service's tasks (address, container port, loopback port)."""
        tasks = {key: [{"id": t.id, "ip": t.ip, "containerPort": t.container_port, "hostPort": t.host_port}
                       for t in ts] for key, ts in self.agent.tasks.items()}
        return {"pid": os.getpid(), "url": self.url, "endpoint": self.endpoint, "restApiId": self.rest_api_id,
                "tasks": tasks}

    def _write_state(self) -> None:
        text = json.dumps(self.state(), sort_keys=True)
        if self.state_file and text != self._state:
            tmp = self.state_file.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(self.state_file)  # readers never see half a file
            self._state = text

    def _fetch_jwks(self, snap: controlplane.Snapshot) -> None:
        for a in snap.authorizers.values():
            for arn in a.get("providerARNs", []) if a.get("type") == "COGNITO_USER_POOLS" else []:
                pool = arn.rsplit("/", 1)[-1]
                if pool not in self.jwks:  # moto routes cognito-idp's public paths by host
                    resp = self.http.get(f"{self.endpoint}/{pool}/.well-known/jwks.json",
                                         headers={"Host": f"cognito-idp.{REGION}.amazonaws.com"})
                    if resp.status_code == 200:
                        self.jwks[pool] = resp.json()

    def _report(self, group: TargetGroup) -> None:
        """Tell the emulator what was measured, so DescribeTargetHealth reports it (in order, off the loop)."""
        targets = [{"Id": ip, "Port": port, "State": s.state,
                    **({"Reason": s.reason[0], "Description": s.reason[1]} if s.reason else {})}
                   for (ip, port), s in group.targets.items()]
        payload = {"targetGroupArn": group.arn, "targets": targets}
        self.loop.run_in_executor(self.io, self._post_health, payload)

    def _post_health(self, payload: dict) -> None:
        self._post(HEALTH_URL, payload)

    def _post_running(self, service_arn: str, running: int) -> None:
        self._post(RUNNING_URL, {"serviceArn": service_arn, "running": running})

    def _post(self, path: str, payload: dict) -> None:
        try:
            self.http.post(f"{self.endpoint}{path}", json=payload)
        except httpx.HTTPError as exc:
            log.warning("not reported to the local AWS (%s): %s", path, exc)
