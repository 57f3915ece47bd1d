"""The local loop as a user types it, in a copy of the project outside the repository:

    portico local up
    set -a; . .portico/local.env; set +a
    sam build
    sam deploy --config-env local      # updates the stack local up deployed, through a change set
    sam delete --config-env local
    sam deploy --config-env local      # creates it again

each run by bash exactly so (SAM CLI from .tools/ on PATH), then a service is onboarded on the deployed stack
and a request goes through the local gateway. Every command's time is printed (`pytest -s`): the emulator
finishes a stack operation before ExecuteChangeSet answers, so SAM's waiters (30 s between polls) never wait.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from template_support import ROOT, SAM, TOOL_ENV

from portico_cli.local_aws import account as local
from portico_cli.local_aws import stack as local_stack
from portico_cli.local_aws.demo import create_in_local_network

pytestmark = [pytest.mark.tools, pytest.mark.slow]

PROJECT = ("template.yaml", "samconfig.toml", "pyproject.toml", "functions", "layers")


def shell(line: str, cwd: Path, timeout: int = 600) -> tuple[str, float]:
    """`line` run by bash after sourcing .portico/local.env as the docs say; its output and seconds taken."""
    env = {k: v for k, v in TOOL_ENV.items() if not k.startswith(("AWS_", "PORTICO_"))}
    env["PATH"] = f"{SAM.parent}:{Path(sys.executable).parent}:{env['PATH']}"
    started = time.monotonic()
    done = subprocess.run(["bash", "-c", f"set -a; . .portico/local.env; set +a; {line}"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    took = time.monotonic() - started
    print(f"{line}: {took:.1f} s")
    assert done.returncode == 0, f"{line}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr, took


@pytest.fixture(scope="module")
def project(sam_tools, tmp_path_factory):
    """A copy of the project (what `sam build` reads) and the local AWS `portico local up` started in it."""
    folder = tmp_path_factory.mktemp("project")
    for name in PROJECT:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(
            src, folder / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if src.is_dir() else {}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PORTICO_"))}
    started = time.monotonic()
    up = subprocess.run([sys.executable, "-m", "portico_cli", "local", "up"], cwd=folder, env=env,
                        capture_output=True, text=True, timeout=300)
    print(f"portico local up: {time.monotonic() - started:.1f} s")
    assert up.returncode == 0, up.stdout + up.stderr
    yield folder
    subprocess.run([sys.executable, "-m", "portico_cli", "local", "down"], cwd=folder, env=env, timeout=120)


def local_env(folder: Path) -> dict[str, str]:
    lines = (folder / ".portico" / "local.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def stack_status(endpoint: str) -> str | None:
    cfn = local.session(endpoint).client("cloudformation", endpoint_url=endpoint)
    found = [s for s in cfn.describe_stacks()["Stacks"] if s["StackName"] == local_stack.STACK]
    return found[0]["StackStatus"] if found else None


def test_samconfig_names_the_network_local_up_makes(project):
    import tomllib

    endpoint = local_env(project)["AWS_ENDPOINT_URL"]
    vpc, subnets = local_stack.network(endpoint)
    overrides = tomllib.loads((ROOT / "samconfig.toml").read_text())["local"]["deploy"]["parameters"][
        "parameter_overrides"]
    given = dict(o.split("=", 1) for o in overrides)
    assert given == {"VpcId": vpc, "SubnetIds": ",".join(subnets), **local_stack.PARAMETERS}


def test_sam_build_deploy_delete_deploy_as_typed(project):
    endpoint = local_env(project)["AWS_ENDPOINT_URL"]
    assert stack_status(endpoint) == "CREATE_COMPLETE"  # what local up deployed

    shell("sam build", project)
    out, took = shell("sam deploy --config-env local", project)
    assert "Successfully created/updated stack - portico-local" in out
    assert stack_status(endpoint) == "UPDATE_COMPLETE"  # sam's packages replaced local up's: an update
    assert took < 60, "a stack operation outlasted the emulator's answer: SAM's waiter polled"

    out, _ = shell("sam delete --config-env local", project)
    assert "Deleted successfully" in out and stack_status(endpoint) is None

    out, took = shell("sam deploy --config-env local", project)
    assert "Successfully created/updated stack - portico-local" in out
    assert stack_status(endpoint) == "CREATE_COMPLETE" and took < 60


def test_a_service_routes_through_the_stack_sam_deployed(project):
    """`portico local up` again serves the stack sam made (a new API since the delete) and rewrites local.env."""
    shell(f"{sys.executable} -m portico_cli local up", project)
    env = local_env(project)
    endpoint = env["AWS_ENDPOINT_URL"]
    assert env["PORTICO_REST_API_ID"] == local_stack.settings(endpoint).rest_api_id
    create_in_local_network(endpoint, services={"orders": 8080})
    py = sys.executable
    shell(f"{py} -m portico_cli onboard orders --cluster demo --container-port 8080 --path /orders --auth NONE "
          f"&& {py} -m portico_cli local stream --once && PYTHONPATH={ROOT} {py} -m scripts.demo_calls wait", project)
    answer = httpx.get(f"{env['PORTICO_LOCAL_GATEWAY_URL']}/dev/orders/hello", trust_env=False, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["service"] == "orders"
