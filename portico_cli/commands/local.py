"""`portico local`: the embedded local AWS (moto server on loopback)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from dotenv import dotenv_values

from portico.settings import BACKEND

from ..context import LOCAL_DIR, LOCAL_ENV, LOCAL_PID, out, reconciler
from ..errors import CliError, Code, refused
from ..output import Json, emit, progress, warn

# The emulator and the data plane (moto, uvicorn, httpx ...) come with the `local` extra, not with `cli`, and are
# imported by the `local` commands only: ~0.6 s that every other command's start is spared.
server = local_stack = dataplane = certificates = None

app = typer.Typer(no_args_is_help=True, help="The embedded local AWS (moto server on loopback).")


@app.callback()
def _needs_local_extra() -> None:
    global server, local_stack, dataplane, certificates
    try:
        from ..local_aws import certificates, server
        from ..local_aws import stack as local_stack
        from ..local_aws.dataplane import process as dataplane
    except ImportError as missing:  # pragma: no branch - tested in a venv without the extra
        raise CliError(Code.NOT_CONFIGURED, f"portico local needs the local extra ({missing.name} is missing): "
                                            "pip install 'portico[local]'") from None


@app.command("up")
def local_up(port: Annotated[int, typer.Option(help="Loopback port for the emulator (default: a free one).")] = 0,
             load_balancers: Annotated[int, typer.Option(min=1, max=6, help="NLBs in the pool (the template's "
                                                                             "LoadBalancerCount).")] = 1,
             gateway_port: Annotated[int, typer.Option(help="Loopback port of the local API Gateway (default: a "
                                                            "free one).")] = 0,
             backend: Annotated[str, typer.Option(help="nlb: the NLB pool (a listener port per service); alb: one ALB "
                                                       "on a VPC link v2 (a listener rule per service).")] = "nlb",
             domains: Annotated[str, typer.Option(help="Custom domain names, stage=domain pairs (the template's "
                                                       "DomainNames, e.g. prod=api.example.com,dev=api.dev.example.com)"
                                                       ": a self-signed certificate for them goes into the local "
                                                       "ACM, and the local gateway serves each by its Host header."
                                                  )] = "",
             header_route: Annotated[str, typer.Option(help="With --domains: header:glob=stage (the template's "
                                                            "HeaderRoute), e.g. x-api-version:beta*=dev.")] = "",
             as_json: Json = False) -> None:
    """Start the local AWS (if not running), deploy template.yaml into it, write .portico/local.env.

    The stack (portico-local) is deployed through the local AWS's CloudFormation, as `sam deploy --config-env
    local` updates it; the VPC and subnets it needs are made here, with ids that never change."""
    parameters = _parameters(backend, load_balancers, domains, header_route)
    pid, endpoint = _running()
    _same_backend(pid, backend)
    plane_now = dataplane.running(LOCAL_DIR)
    if gateway_port and not (plane_now and str(plane_now.get("url", "")).endswith(f":{gateway_port}")):
        _free("--gateway-port", gateway_port)  # checked before anything starts, as --port is
    pid, endpoint, packaged = _start_and_package(pid, endpoint, port)
    if "DomainNames" in parameters:  # the template's rules and patterns check the values, as CloudFormation does
        parameters["CertificateArn"] = certificates.certificate_for(
            endpoint, sorted({pair.partition("=")[2] for pair in domains.split(",") if pair.strip()}))
    try:
        s = local_stack.deploy(endpoint, parameters, packaged=packaged, cache=LOCAL_DIR / "templates")
    except local_stack.DeployFailed as exc:
        raise CliError(Code.FAILED, str(exc), f"see {LOCAL_DIR / 'moto.log'}") from None
    try:
        plane = dataplane.start(endpoint, s.rest_api_id, LOCAL_DIR, gateway_port)
    except RuntimeError as exc:
        raise CliError(Code.FAILED, str(exc), "`portico local down` stops the local AWS; then `portico local up` "
                                              "again") from None
    # SAM CLI waits SAM_CLI_POLL_DELAY (5 s) before reading a stack's events; the local stack is settled at once.
    local_stack.write_env(LOCAL_ENV, s, {dataplane.GATEWAY_URL_ENV: plane["url"], "SAM_CLI_POLL_DELAY": "0.5"})
    _report_up(endpoint, pid, s, plane)


def _parameters(backend: str, load_balancers: int, domains: str, header_route: str) -> dict[str, str]:
    """The template's parameters for `local up`'s options, refused with the option's name when wrong."""
    if backend not in ("nlb", "alb"):
        raise refused(f"--backend: {backend!r} is not a backend", "choose nlb or alb")
    pairs = [pair.partition("=") for pair in domains.split(",") if pair.strip()]
    if any(not (stage and sep and name) for stage, sep, name in pairs):
        raise refused(f"--domains: {domains!r} is not stage=domain pairs", "e.g. --domains prod=api.example.com")
    if header_route and not pairs:
        raise refused("--header-route: routes requests of a custom domain", "give --domains too")
    parameters = {"Backend": "alb"} if backend == "alb" else \
        {"LoadBalancerCount": str(load_balancers)} if load_balancers > 1 else {}
    return {**parameters, **({"DomainNames": domains, "HeaderRoute": header_route} if pairs else {})}


def _same_backend(pid: int | None, backend: str) -> None:
    """A redeploy in another mode would swap the load balancers under the routed services: refused."""
    running = dotenv_values(LOCAL_ENV).get(BACKEND) if pid is not None and LOCAL_ENV.exists() else None
    if running and running != backend:
        raise refused(f"--backend: the local stack of this folder runs the {running} backend, not {backend}",
                      f"run `portico local down` first (it forgets the stack's services), or `portico local up "
                      f"--backend {running}`")


def _free(option: str, port: int) -> int:
    try:
        return server.free_port(port)
    except OSError as exc:
        raise refused(f"{option}: {port} cannot be used on 127.0.0.1 ({exc.strerror})",
                      f"choose another port, or leave {option} out for a free one") from None


def _start_and_package(pid: int | None, endpoint: str, port: int):
    """The local AWS started if it is not running, and the project in this folder (its template.yaml, functions
    and layer; else the one portico comes from) packaged while it starts: two processes busy at once, which
    takes seconds off a first local up (docs/deploy.md). (pid, endpoint, packaged)"""
    started = pid is None
    if started:
        pid, endpoint = _start(_free("--port", port))
    packaged = local_stack.package(Path.cwd() if (Path.cwd() / "template.yaml").is_file() else local_stack.ROOT)
    local_stack.clients(endpoint)
    if started:
        _listening(endpoint)
    return pid, endpoint, packaged


def _start(port: int) -> tuple[int, str]:
    """Start the local AWS on `port`, recorded in .portico/ (a stream checkpoint of an earlier one is dropped);
    _listening waits for it."""
    pid, endpoint = server.spawn_server(port, LOCAL_DIR)
    LOCAL_PID.write_text(f"{pid} {endpoint}\n")
    (LOCAL_DIR / "stream.json").unlink(missing_ok=True)
    return pid, endpoint


def _listening(endpoint: str) -> None:
    try:
        server.wait_for(endpoint)
    except TimeoutError as exc:
        raise CliError(Code.FAILED, str(exc), f"see {LOCAL_DIR / 'moto.log'}") from None


def _report_up(endpoint: str, pid: int, s, plane: dict) -> None:
    stage_urls = {stage: f"{plane['url']}/{stage}" for stage in s.stages}
    hosts = dict(s.domains)

    def human() -> None:
        out.print(f"local AWS at [bold]{endpoint}[/] (pid {pid}); settings in {LOCAL_ENV}")
        lbs = "one ALB (a listener rule per service)" if s.backend == "alb" else f"{len(s.load_balancer_arns)} NLB(s)"
        out.print(f"stack {s.stack}: REST API {s.rest_api_id}, stages {', '.join(s.stages)}, {lbs}, "
                  f"registry table {s.registry_table}; update it with `sam build && sam deploy --config-env local`",
                  highlight=False)
        out.print(f"local API Gateway (data plane, pid {plane['pid']}) serves every stage:")
        for stage, url in stage_urls.items():
            out.print(f"  {stage}: {url}  (e.g. curl {url}/orders)", highlight=False)
            if stage in hosts:
                out.print(f"  {stage} on {hosts[stage]}: curl -H 'Host: {hosts[stage]}' {plane['url']}/orders",
                          highlight=False)
        out.print("a routed service answers once its target is healthy: HealthyThresholdCount × "
                  "HealthCheckIntervalSeconds of its target group (AWS's default: 5 × 30 s; docs/dataplane.md)",
                  highlight=False)

    emit({"endpoint": endpoint, "pid": pid, "envFile": str(LOCAL_ENV), "restApiId": s.rest_api_id,
          "stages": list(s.stages), "loadBalancerArns": list(s.load_balancer_arns),
          "registryTable": s.registry_table, "stateTable": s.state_table, "stack": s.stack,
          "gatewayUrl": plane["url"], "stageUrls": stage_urls, "domains": hosts}, human)


@app.command("down")
def local_down(as_json: Json = False) -> None:
    """Stop the local AWS started from this folder and forget its state."""
    pid, endpoint = _running()
    plane_stopped = dataplane.stop(LOCAL_DIR)  # first: it deregisters its tasks from the local AWS
    if pid is not None:
        server.stop_server(pid)
    for f in (LOCAL_PID, LOCAL_ENV, LOCAL_DIR / "stream.json"):
        f.unlink(missing_ok=True)
    emit({"stopped": pid is not None, "endpoint": endpoint or None, "dataPlaneStopped": plane_stopped},
         lambda: out.print(f"stopped the local AWS at {endpoint}" + (" and its data plane" if plane_stopped else "")
                           if pid is not None else "no local AWS is running from this folder"))


def _running() -> tuple[int | None, str]:
    if not LOCAL_PID.exists():
        return None, ""
    pid_text, _, endpoint = LOCAL_PID.read_text().strip().partition(" ")
    if server.alive(int(pid_text)):
        return int(pid_text), endpoint
    LOCAL_PID.unlink(missing_ok=True)
    return None, ""


@app.command("stream")
def local_stream(once: Annotated[bool, typer.Option("--once", help="Deliver what is there, then stop.")] = False,
                 interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 1.0,
                 as_json: Json = False) -> None:
    """Deliver registry stream records to the stream handler, as Lambda's event source mapping would.

    With --json: one JSON object per poll that delivered records ({"delivered": N, "failed": N}), or exactly
    one with --once.
    """
    from portico.triggers import stream

    from ..local_aws.streampoll import StreamPoller

    failed: list[int] = []

    def on_failure(batch: list[dict]) -> None:
        failed.append(len(batch))
        warn(f"{len(batch)} record(s) sent to the on-failure queue after the retries")

    bar = [lambda done, total: None]  # the progress bar of the poll under way
    rec = reconciler(on_step=lambda done, total: bar[0](done, total))
    poller = StreamPoller(rec.clients.dynamodb, rec.clients.streams, rec.settings.registry_table,
                          lambda e, ctx: stream.handle(e, ctx, rec), checkpoint=LOCAL_DIR / "stream.json",
                          on_failure=on_failure)
    try:
        while True:
            with progress("delivering the registry stream") as bar[0]:
                n = poller.poll_once()
            if n or once:
                emit({"delivered": n, "failed": sum(failed)},
                     lambda count=n: count and out.print(f"delivered {count} stream record(s) to the registry "
                                                         "stream handler"))
                failed.clear()
            if once:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return
