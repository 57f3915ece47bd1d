"""checkov: 0 failed checks; every skip is written in the template, with a one-line reason, and used.

checkov evaluates the template's conditions with the parameters' defaults and leaves out the resources they
remove (NLBs 2..6 of the pool with LoadBalancerCount=1, the VPC links v1 on v2, the API Gateway account
setting, ...). So it scans twice:
template.yaml as it is (what `make checkov` runs), and a copy whose defaults turn every other condition on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from template_support import CHECKOV, TEMPLATE, Deployed, load_template, run

pytestmark = pytest.mark.tools

# Defaults under which every condition of the template holds (checked below, so a new condition needs a line).
EVERY_CONDITION_ON = {
    "LoadBalancerCount": "6",
    "ReservedConcurrency": "2",
    "VpcLinkVersion": "v1+v2",
    "Backend": "alb",  # the ALB, its listener and AlbRulesPolicy (ALB mode) next to the NLB pool
    "StageNames": "dev,qa,prod",
    "ConfigureApiGatewayAccount": '"true"',
    "AlarmEmail": "oncall@example.com",
    "CognitoUserPoolArn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example1",
}


def with_defaults(text: str, values: dict[str, str]) -> str:
    """template.yaml's text with the Default line of each named parameter replaced."""
    lines, current, done = text.splitlines(keepends=True), None, set()
    in_parameters = False
    for i, line in enumerate(lines):
        if not line.startswith(" ") and line.strip():
            in_parameters = line.startswith("Parameters:")
        elif in_parameters and line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            current = line.strip()[:-1]
        elif in_parameters and current in values and line.startswith("    Default: "):
            lines[i] = f"    Default: {values[current]}\n"
            done.add(current)
    assert done == set(values), f"no Default line for {sorted(set(values) - done)}"
    return "".join(lines)


@pytest.fixture(scope="module")
def every_condition_on(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("checkov") / "template.yaml"
    path.write_text(with_defaults(TEMPLATE.read_text(), EVERY_CONDITION_ON))
    copy = load_template(path)
    # Each condition holds in one of the two scans (auto's account check and true's Account exclude each other).
    on, defaults = Deployed(copy), Deployed(load_template())
    off = sorted(name for name in copy["Conditions"] if not on.condition(name) and not defaults.condition(name))
    assert not off, f"neither scan sees these conditions true: {off}"
    return path


def scan(path: Path) -> dict:
    proc = run(CHECKOV, "--skip-download", "--framework", "cloudformation", "--file", path, "--output", "json")
    assert proc.stdout.strip(), proc.stderr
    data = json.loads(proc.stdout)
    return data[0] if isinstance(data, list) else data


@pytest.fixture(scope="module")
def reports(checkov_tool, every_condition_on) -> dict[str, dict]:
    return {"defaults": scan(TEMPLATE), "every condition on": scan(every_condition_on)}


def declared_skips(resources: dict) -> dict[tuple[str, str], str]:
    out = {}
    for name, res in resources.items():
        for skip in (res.get("Metadata") or {}).get("checkov", {}).get("skip", []):
            out[(name, skip["id"])] = skip.get("comment", "")
    return out


@pytest.mark.parametrize("variant", ["defaults", "every condition on"])
def test_no_failed_checks(reports, variant):
    report = reports[variant]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]]
    assert report["summary"]["failed"] == 0 and not failed, "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 0


def test_every_condition_on_scans_every_member_of_the_pool(reports, resources):
    pool = {k for k, v in resources.items() if v["Type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer"}
    checked = {c["resource"].split(".", 1)[1] for kind in ("passed_checks", "failed_checks", "skipped_checks")
               for c in reports["every condition on"]["results"][kind]}
    assert pool <= checked, f"checkov did not look at {sorted(pool - checked)}"


def test_every_skip_is_declared_in_the_template_with_a_reason(reports, resources):
    declared = declared_skips(resources)
    for (name, check), comment in declared.items():
        assert comment.strip(), f"{name} skips {check} without a reason"
        assert "\n" not in comment.strip() and len(comment) <= 140, f"{name} {check}: one line, please"
    skipped = {(c["resource"].split(".", 1)[1], c["check_id"])
               for report in reports.values() for c in report["results"]["skipped_checks"]}
    assert skipped <= set(declared), f"skipped outside the template: {sorted(skipped - set(declared))}"
    # A skip that no check uses any more is noise that hides the next real finding.
    assert set(declared) <= skipped, f"stale skips: {sorted(set(declared) - skipped)}"
