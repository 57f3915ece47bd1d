"""cfn-lint and `sam validate --lint`: 0 errors, 0 warnings, on the main template and the examples."""

from __future__ import annotations

import pytest
from template_support import CFN_LINT, ROOT, SAM, TEMPLATE, run

pytestmark = pytest.mark.tools

EXAMPLES = sorted(p for pattern in ("examples/*.yaml", "examples/*/*.yaml", "examples/*/*.yml")
                  for p in ROOT.glob(pattern))


@pytest.mark.parametrize("path", [TEMPLATE, *EXAMPLES], ids=lambda p: str(p.relative_to(ROOT)))
def test_cfn_lint_has_no_errors_and_no_warnings(sam_tools, path):
    # Exit code 0 = no error (2), no warning (4), no informational finding (8).
    proc = run(CFN_LINT, "--format", "parseable", "--", path)
    assert proc.returncode == 0, f"cfn-lint {path.name}:\n{proc.stdout}{proc.stderr}"
    assert proc.stdout.strip() == ""


def test_sam_validate_lint(sam_tools):
    proc = run(SAM, "validate", "--lint", "--template-file", TEMPLATE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is a valid SAM Template" in proc.stdout + proc.stderr
