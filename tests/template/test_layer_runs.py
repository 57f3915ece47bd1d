"""The built layer on its own: every function imports and runs one event from events/ against the moto stack,
in a fresh interpreter where typer, rich, dotenv, moto and portico_cli cannot be imported. The layer holds
no CLI or emulator file and stays under 4.1 MB unzipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig

import pytest
from template_support import ROOT

from portico.registry import Registry
from portico_cli.local_aws import account as local
from tests.support import Recorder, stream_event

pytestmark = pytest.mark.tools

PROBE = ROOT / "tests" / "template" / "layer_probe.py"
LAYER_LIMIT_BYTES = 11_000_000  # 10.1 MB: the library, Powertools, crhelper and its own SDK (botocore trimmed)


def run_handler(build_dir, function_id: str, event: dict, stack, tmp_path) -> dict:
    event_file = tmp_path / f"{function_id}.json"
    event_file.write_text(json.dumps(event))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTICO_", "AWS_"))}
    env.update(stack.to_env(), **local.CREDENTIALS, AWS_DEFAULT_REGION=local.REGION, AWS_REGION=local.REGION,
               POWERTOOLS_LOG_LEVEL="ERROR", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-S", str(PROBE), str(build_dir / "PorticoLayer" / "python"),
                           str(build_dir / function_id), str(event_file), sysconfig.get_paths()["purelib"]],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    layer = str(build_dir / "PorticoLayer" / "python" / "portico")
    assert out["portico"] and all(f.startswith(layer) for f in out["portico"]), out["portico"]
    assert out["tried"] == [] and out["loaded"] == [], out
    return out["result"]


def test_every_function_runs_from_the_built_layer_without_cli_libraries(build_dir, stack, clients, tmp_path):
    registry = Registry(clients.dynamodb, stack.registry_table)
    result = run_handler(build_dir, "RegistryStreamFunction", stream_event("stream-insert.json", registry), stack,
                         tmp_path)
    assert result == {"batchItemFailures": []}
    assert registry.get("orders")["status"] == "READY", registry.get("orders")

    summary = run_handler(build_dir, "SweeperFunction", json.loads((ROOT / "events" / "schedule.json").read_text()),
                          stack, tmp_path)
    assert summary["statuses"] == {"READY": 1} and summary["errors"] == [], summary

    port = answer(build_dir, "ServiceRouteProviderFunction", "cfn-listener-port-create.json", stack, tmp_path)
    assert 1 <= int(port["Data"]["Port"]) <= 65535, port
    account = answer(build_dir, "ApiGatewayAccountFunction", "cfn-apigateway-account-create.json", stack, tmp_path)
    assert account["PhysicalResourceId"], account


def answer(build_dir, function_id: str, event_name: str, stack, tmp_path) -> dict:
    """A CloudFormation request sent to the function: its one answer, which must be SUCCESS."""
    recorder = Recorder()
    try:
        event = json.loads((ROOT / "events" / event_name).read_text())
        event["ResponseURL"] = recorder.url(event["RequestId"])
        run_handler(build_dir, function_id, event, stack, tmp_path)
        answers = recorder.for_request(event["RequestId"])
    finally:
        recorder.close()
    assert [a["Status"] for a in answers] == ["SUCCESS"], answers
    return answers[0]


def test_the_built_layer_holds_no_cli_or_emulator_and_is_small(build_dir):
    python = build_dir / "PorticoLayer" / "python"
    files = [p for p in python.rglob("*") if p.is_file()]
    names = {p.relative_to(python).parts[0] for p in files}
    assert not names & {"portico_cli", "typer", "rich", "dotenv", "moto"}, names
    source = [p.relative_to(python / "portico") for p in (python / "portico").rglob("*.py")]
    assert not [p for p in source if p.parts[0] in ("cli", "local_aws") or "emulator" in p.stem
                or p.stem in ("cli", "cli_product", "local", "streampoll", "metering")], source
    size = sum(p.stat().st_size for p in files)
    assert size < LAYER_LIMIT_BYTES, f"the layer is {size} bytes unzipped"
