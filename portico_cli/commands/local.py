"""`portico local`: the embedded local AWS (moto server on loopback)."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from ..context import LOCAL_DIR, LOCAL_ENV, LOCAL_PID, err, out, reconciler
from ..local_aws import bootstrap as local

app = typer.Typer(no_args_is_help=True, help="The embedded local AWS (moto server on loopback).")


@app.command("up")
def local_up(port: Annotated[int, typer.Option(help="loopback port for the emulator (default: a free one)")] = 0,
             load_balancers: Annotated[int, typer.Option(min=1, max=20, help="NLBs in the pool")] = 1) -> None:
    """Start the local AWS (if not running), bootstrap portico's infrastructure, write .portico/local.env."""
    pid, endpoint = _running()
    if pid is None:
        pid, endpoint = local.start_server(port or None, LOCAL_DIR)
        LOCAL_PID.write_text(f"{pid} {endpoint}\n")
        for name in (LOCAL_DIR / "stream.json",):
            name.unlink(missing_ok=True)
    s = local.bootstrap(endpoint, load_balancers=load_balancers)
    local.write_env(LOCAL_ENV, s)
    out.print(f"local AWS at [bold]{endpoint}[/] (pid {pid}); settings in {LOCAL_ENV}")
    out.print(f"REST API {s.rest_api_id}, stages {', '.join(s.stages)}, {len(s.load_balancer_arns)} NLB(s), "
              f"registry table {s.registry_table}; ECS cluster '{local.DEMO_CLUSTER}' with services "
              f"{', '.join(local.DEMO_SERVICES)}")


@app.command("down")
def local_down() -> None:
    """Stop the local AWS started from this folder and forget its state."""
    pid, endpoint = _running()
    if pid is None:
        out.print("no local AWS is running from this folder")
    else:
        local.stop_server(pid)
        out.print(f"stopped the local AWS at {endpoint}")
    for f in (LOCAL_PID, LOCAL_ENV, LOCAL_DIR / "stream.json"):
        f.unlink(missing_ok=True)


def _running() -> tuple[int | None, str]:
    if not LOCAL_PID.exists():
        return None, ""
    pid_text, _, endpoint = LOCAL_PID.read_text().strip().partition(" ")
    if local.alive(int(pid_text)):
        return int(pid_text), endpoint
    LOCAL_PID.unlink(missing_ok=True)
    return None, ""


@app.command("stream")
def local_stream(once: Annotated[bool, typer.Option("--once", help="deliver what is there, then stop")] = False,
                 interval: Annotated[float, typer.Option(help="seconds between polls")] = 1.0) -> None:
    """Deliver registry stream records to the stream handler, as Lambda's event source mapping would."""
    from portico.triggers import stream

    from ..local_aws.streampoll import StreamPoller

    rec = reconciler()
    c = rec.clients
    poller = StreamPoller(c.dynamodb, c.streams, rec.settings.registry_table, lambda e, ctx: stream.handle(e, ctx, rec),
                          checkpoint=LOCAL_DIR / "stream.json",
                          on_failure=lambda b: err.print(f"[red]{len(b)} record(s) sent to the on-failure queue[/]"))
    try:
        while True:
            n = poller.poll_once()
            if n:
                out.print(f"delivered {n} stream record(s) to the registry stream handler")
            if once:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return


