"""checkov: 0 failed checks; every skip is written in the template, with a one-line reason, and used."""

from __future__ import annotations

import json

import pytest
from template_support import CHECKOV, TEMPLATE, run

pytestmark = pytest.mark.tools


@pytest.fixture(scope="module")
def report(checkov_tool) -> dict:
    proc = run(CHECKOV, "--skip-download", "--framework", "cloudformation", "--file", TEMPLATE, "--output", "json")
    assert proc.stdout.strip(), proc.stderr
    data = json.loads(proc.stdout)
    return data[0] if isinstance(data, list) else data


def declared_skips(resources: dict) -> dict[tuple[str, str], str]:
    out = {}
    for name, res in resources.items():
        for skip in (res.get("Metadata") or {}).get("checkov", {}).get("skip", []):
            out[(name, skip["id"])] = skip.get("comment", "")
    return out


def test_no_failed_checks(report):
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]]
    assert report["summary"]["failed"] == 0 and not failed, "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 0


def test_every_skip_is_declared_in_the_template_with_a_reason(report, resources):
    declared = declared_skips(resources)
    for (name, check), comment in declared.items():
        assert comment.strip(), f"{name} skips {check} without a reason"
        assert "\n" not in comment.strip() and len(comment) <= 140, f"{name} {check}: one line, please"
    skipped = {(c["resource"].split(".", 1)[1], c["check_id"]) for c in report["results"]["skipped_checks"]}
    assert skipped <= set(declared), f"skipped outside the template: {sorted(skipped - set(declared))}"
    # A skip that no check uses any more is noise that hides the next real finding.
    assert set(declared) <= skipped, f"stale skips: {sorted(set(declared) - skipped)}"
