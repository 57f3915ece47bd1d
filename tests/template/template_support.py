"""Shared helpers of tests/template: paths, the parsed template, running mk/tools.mk and the tools.

The tools (aws-sam-cli, checkov) live in their own venvs under .tools/, installed and stamped by
mk/tools.mk; the fixtures call those make targets, so a test run on a clean clone installs them once
(about a minute, see docs/deploy.md) and later runs cost nothing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
TOOLS = ROOT / ".tools"
SAM = TOOLS / "sam" / "bin" / "sam"
CFN_LINT = TOOLS / "sam" / "bin" / "cfn-lint"
CHECKOV = TOOLS / "checkov" / "bin" / "checkov"
BUILD_DIR = ROOT / ".aws-sam" / "build"

# Function logical id -> handler folder (the contract in template.yaml).
FUNCTIONS = {
    "RegistryStreamFunction": "functions/stream",
    "SweeperFunction": "functions/sweeper",
    "ServiceRouteProviderFunction": "functions/provider",
}
# Handlers that land with a later issue: their absence skips (not fails) the checks that need them.
LATER = {"ServiceRouteProviderFunction": "issue 4 (CloudFormation front-end)"}

TOOL_ENV = {
    **os.environ,
    "SAM_CLI_TELEMETRY": "0",
    "SAM_CLI_CONTACT_TELEMETRY": "0",
    "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
}


def load_template(path: Path = TEMPLATE) -> dict:
    return cfn_yaml.load(str(path))


def make(*targets: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run targets of mk/tools.mk (the top-level Makefile includes it; calling the fragment directly
    keeps these tests independent of the rest of the Makefile)."""
    proc = subprocess.run(["make", "-s", "-f", "mk/tools.mk", *targets], cwd=cwd, env=TOOL_ENV,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"make {' '.join(targets)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def run(*cmd, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=TOOL_ENV, capture_output=True, text=True,
                          timeout=timeout)


def missing_handlers() -> dict[str, str]:
    return {fid: folder for fid, folder in FUNCTIONS.items() if not (ROOT / folder / "app.py").is_file()}


def function_ids(resources: dict) -> list[str]:
    return sorted(k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function")


def role_statements(resources: dict, function_id: str) -> list[dict]:
    """Every IAM statement the function's role carries: its inline policies and the managed policies of
    this template attached to it (machine-readable; used by the IAM contract tests)."""
    role_ref = resources[function_id]["Properties"]["Role"]
    role_id = role_ref["Fn::GetAtt"][0] if isinstance(role_ref["Fn::GetAtt"], list) else \
        role_ref["Fn::GetAtt"].split(".")[0]
    role = resources[role_id]["Properties"]
    out: list[dict] = []
    for policy in role.get("Policies", []):
        out.extend(policy["PolicyDocument"]["Statement"])
    for arn in role.get("ManagedPolicyArns", []):
        assert isinstance(arn, dict) and "Ref" in arn, f"{role_id}: only this template's managed policies"
        out.extend(resources[arn["Ref"]]["Properties"]["PolicyDocument"]["Statement"])
    return out


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]
