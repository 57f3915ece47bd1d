"""checkov: 0 failed checks; every skip is written in the template, with a one-line reason, and used.

checkov evaluates the template's conditions with the parameters' defaults and leaves out the resources they
remove (NLBs 2..6 of the pool with LoadBalancerCount=1, the VPC links v1 on v2, the API Gateway account
setting, ...). The two backends exclude each other (ALB mode has no NLB, NLB mode no ALB). So it scans three
times: template.yaml as it is (what `make checkov` runs), and two copies whose defaults turn every other
condition on, one per backend.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from template_support import CHECKOV, TEMPLATE, Deployed, load_template, run

pytestmark = pytest.mark.tools

# Defaults under which every condition of the template holds in one of the scans (checked below, so a new
# condition needs a line): NLB mode with the whole pool and both kinds of VPC link, and ALB mode.
EVERY_CONDITION_ON = {
    "LoadBalancerCount": "6",
    "ReservedConcurrency": "2",
    "VpcLinkVersion": "v1+v2",
    "StageNames": "dev,qa,prod",
    "ConfigureApiGatewayAccount": '"true"',
    "AlarmEmail": "oncall@example.com",
    "CognitoUserPoolArn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example1",
    "DomainNames": "dev=api.dev.example.com,qa=api.qa.example.com,prod=api.example.com",
    "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0e5c2f4a-1111-2222-3333-444455556666",
    "HostedZoneId": "Z0123456789EXAMPLE",
    "HeaderRoute": "x-api-version:beta=qa",
    "DomainSecurityPolicy": "SecurityPolicy_TLS13_1_3_2025_09",
    "DisableExecuteApiEndpoint": '"true"',
    "VpcLinkSubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
}
# ALB mode (on the v2 link, as its rule requires): the ALB, its listener and AlbRulesPolicy, and no NLB even
# with LoadBalancerCount=6.
ALB_MODE_ON = {**EVERY_CONDITION_ON, "VpcLinkVersion": "v2", "Backend": "alb"}
SCANS = {"every condition on": EVERY_CONDITION_ON, "alb mode": ALB_MODE_ON}


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
def variants(tmp_path_factory) -> dict[str, Path]:
    """The template.yaml copies to scan, by name."""
    out, stacks = {}, [Deployed(load_template())]
    for name, values in SCANS.items():
        path = tmp_path_factory.mktemp("checkov") / "template.yaml"
        path.write_text(with_defaults(TEMPLATE.read_text(), values))
        out[name] = path
        stacks.append(Deployed(load_template(path)))
    # Each condition holds in one of the scans (auto's account check and true's Account exclude each other,
    # and so do the backends).
    off = sorted(name for name in stacks[0].template["Conditions"] if not any(s.condition(name) for s in stacks))
    assert not off, f"no scan sees these conditions true: {off}"
    return out


def scan(paths: dict[str, Path]) -> dict[str, dict]:
    """One checkov run over every copy (its start-up is most of a scan's time), its results split by file, each
    with the summary counts the tests read."""
    proc = run(CHECKOV, "--skip-download", "--framework", "cloudformation",
               *(arg for path in paths.values() for arg in ("--file", path.resolve())), "--output", "json")
    assert proc.stdout.strip(), proc.stderr
    data = json.loads(proc.stdout)
    results = (data[0] if isinstance(data, list) else data)["results"]
    by_file = {str(path.resolve()): name for name, path in paths.items()}
    out = {name: {"results": {kind: [] for kind in ("passed_checks", "failed_checks", "skipped_checks")}}
           for name in paths}
    for kind in out[next(iter(paths))]["results"]:
        for check in results[kind]:
            out[by_file[str(Path(check["file_abs_path"]).resolve())]]["results"][kind].append(check)
    unparsed = {by_file[str(Path(f).resolve())] for f in results.get("parsing_errors", [])}
    for name, report in out.items():
        report["summary"] = {"passed": len(report["results"]["passed_checks"]),
                             "failed": len(report["results"]["failed_checks"]), "parsing_errors": int(name in unparsed)}
    return out


@pytest.fixture(scope="module")
def reports(checkov_tool, variants) -> dict[str, dict]:
    return scan({"defaults": TEMPLATE, **variants})


def declared_skips(resources: dict) -> dict[tuple[str, str], str]:
    out = {}
    for name, res in resources.items():
        for skip in (res.get("Metadata") or {}).get("checkov", {}).get("skip", []):
            out[(name, skip["id"])] = skip.get("comment", "")
    return out


@pytest.mark.parametrize("variant", ["defaults", *SCANS])
def test_no_failed_checks(reports, variant):
    report = reports[variant]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]]
    assert report["summary"]["failed"] == 0 and not failed, "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 0


def checked(report: dict) -> set[str]:
    return {c["resource"].split(".", 1)[1] for kind in ("passed_checks", "failed_checks", "skipped_checks")
            for c in report["results"][kind]}


def test_every_condition_on_scans_every_member_of_the_pool(reports, resources):
    pool = {k for k, v in resources.items() if v["Type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer"
            and v["Properties"]["Type"] == "network"}
    seen = checked(reports["every condition on"])
    assert pool <= seen, f"checkov did not look at {sorted(pool - seen)}"


def test_the_alb_mode_scan_sees_the_alb_and_nothing_of_the_nlb_pool(reports, resources):
    """In ALB mode NLB 1, the pool's security group and its listener policy (condition UseNlb) are not there to
    check, and the ALB is. checkov does not resolve a `!Condition` nested in `!And`, so it still scans members
    2..6 (HasLoadBalancer2..6); that CloudFormation creates none of them is test_pool's."""
    pool = {k for k, v in resources.items() if v.get("Condition") == "UseNlb"}
    assert {"LoadBalancer", "LoadBalancerSecurityGroup", "LoadBalancerPoolPolicy"} <= pool
    seen = checked(reports["alb mode"])
    assert {"Alb", "AlbListener", "AlbSecurityGroup", "VpcLinkSecurityGroup"} <= seen
    assert not pool & seen, f"checked in ALB mode: {sorted(pool & seen)}"


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
