"""`sam build` (no Docker, no python3.13): the artifacts hold each handler and the layer, never boto3."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

import pytest
from template_support import FUNCTIONS, LATER, ROOT, missing_handlers

pytestmark = pytest.mark.tools

RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_function_artifact_is_its_handler(build_dir, function_id):
    if function_id in missing_handlers():
        pytest.skip(f"{FUNCTIONS[function_id]}/app.py lands with {LATER.get(function_id, 'a later change')}")
    artifact = build_dir / function_id
    assert (artifact / "app.py").read_bytes() == (ROOT / FUNCTIONS[function_id] / "app.py").read_bytes()
    # The library and its dependencies come from the layer, boto3 from the runtime: nothing else here.
    assert sorted(p.name for p in artifact.iterdir()) == ["app.py"]


def test_layer_has_the_library(build_dir):
    python = build_dir / "PorticoLayer" / "python"
    source = ROOT / "layers" / "portico" / "portico"
    expected = sorted(str(p.relative_to(source)) for p in source.rglob("*.py") if "__pycache__" not in p.parts)
    built = sorted(str(p.relative_to(python / "portico")) for p in (python / "portico").rglob("*.py"))
    assert expected and built == expected
    assert not list((python / "portico").rglob("__pycache__"))


def test_layer_has_powertools_and_crhelper_but_not_boto3(build_dir):
    python = build_dir / "PorticoLayer" / "python"
    names = {p.name for p in python.iterdir()}
    assert {"aws_lambda_powertools", "crhelper"} <= names
    bundled = [n for n in names for pkg in RUNTIME_PROVIDED if n == pkg or n.startswith(f"{pkg}-")]
    assert not bundled, f"the Lambda runtime provides these: {bundled}"


def test_layer_binaries_are_for_lambda_arm64(build_dir):
    python = build_dir / "PorticoLayer" / "python"
    for so in python.rglob("*.so"):
        assert "aarch64" in so.name or "cpython-313" in so.name, f"not an arm64 / cp313 binary: {so}"
    for tag in python.glob("*.dist-info/WHEEL"):
        for line in tag.read_text().splitlines():
            if line.startswith("Tag:"):
                assert line.split("-")[-1] in ("any", "manylinux2014_aarch64") or "aarch64" in line, (tag, line)


def test_layer_makefile_installs_what_pyproject_declares():
    """LAYER_REQUIREMENTS (the layer Makefile) == [project] dependencies minus boto3 (the runtime's)."""
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = sorted(d.replace(" ", "") for d in declared if not re.match(r"boto3\b|botocore\b", d))
    makefile = (ROOT / "layers" / "portico" / "Makefile").read_text()
    line = re.search(r"^LAYER_REQUIREMENTS\s*=\s*(.+)$", makefile, re.M).group(1)
    assert sorted(re.findall(r'"([^"]+)"', line)) == wanted


def test_built_template_points_at_the_artifacts(build_dir):
    text = (build_dir / "template.yaml").read_text()
    for function_id in FUNCTIONS:
        assert re.search(rf"CodeUri:\s*{function_id}\b", text), function_id
    assert re.search(r"ContentUri:\s*PorticoLayer\b", text)


def test_artifact_sizes_script_reports_every_artifact(build_dir):
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "artifact_sizes.py"), "--build-dir",
                           str(build_dir), "--json"], capture_output=True, text=True, check=True)
    sizes = {row["artifact"]: row for row in json.loads(proc.stdout)}
    assert set(sizes) == {"PorticoLayer", *FUNCTIONS}
    assert all(row["unzipped_bytes"] > 0 for row in sizes.values())
