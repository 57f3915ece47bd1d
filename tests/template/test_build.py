"""`sam build` (no Docker, no python3.13): the artifacts hold each handler and the layer, which ships the SDK
portico calls (boto3/botocore from the layer's lock) with Powertools and crhelper."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib

import pytest
from template_support import FUNCTIONS, LATER, ROOT, missing_handlers

pytestmark = pytest.mark.tools

LAYER_LOCK = ROOT / "layers" / "portico" / "requirements.txt"


def _locked(lock) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^ \\]+)", lock.read_text(), re.M))


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_function_artifact_is_its_handler(build_dir, function_id):
    if function_id in missing_handlers():
        pytest.skip(f"{FUNCTIONS[function_id]}/app.py lands with {LATER.get(function_id, 'a later change')}")
    artifact = build_dir / function_id
    assert (artifact / "app.py").read_bytes() == (ROOT / FUNCTIONS[function_id] / "app.py").read_bytes()
    # The library and its dependencies (the SDK too) come from the layer: nothing else here.
    assert sorted(p.name for p in artifact.iterdir()) == ["app.py"]


def test_layer_has_the_library(build_dir):
    python = build_dir / "PorticoLayer" / "python"
    source = ROOT / "layers" / "portico" / "portico"
    expected = sorted(str(p.relative_to(source)) for p in source.rglob("*.py") if "__pycache__" not in p.parts)
    built = sorted(str(p.relative_to(python / "portico")) for p in (python / "portico").rglob("*.py"))
    assert expected and built == expected
    assert not list((python / "portico").rglob("__pycache__"))


def test_layer_ships_exactly_its_lock(build_dir):
    """Every locked package, at its locked version, and the SDK with the API fields portico sends."""
    python = build_dir / "PorticoLayer" / "python"
    installed = {m.group(1).lower().replace("_", "-"): m.group(2)
                 for d in python.glob("*.dist-info") if (m := re.match(r"(.+)-([^-]+)\.dist-info$", d.name))}
    locked = {name.lower().replace("_", "-"): version for name, version in _locked(LAYER_LOCK).items()}
    assert installed == locked
    assert {"aws_lambda_powertools", "crhelper", "boto3", "botocore"} <= {p.name for p in python.iterdir()}
    # integrationTarget (VPC link v2 integrations) is in botocore's API Gateway model only from ~1.41.5: the
    # runtime's bundled SDK may predate it, the layer's must not.
    models = list((python / "botocore" / "data" / "apigateway").glob("*/service-2.json*"))
    assert models and all(b"integrationTarget" in _read(m) for m in models)


def test_layer_keeps_the_api_model_of_every_client_portico_makes(build_dir):
    """The layer drops botocore's unused API models: every service named in a client call must be kept."""
    layer = ROOT / "layers" / "portico"
    kept = set(re.search(r"^BOTOCORE_SERVICES\s*=\s*(.+)$", (layer / "Makefile").read_text(), re.M).group(1).split())
    called = {name for path in (layer / "portico").rglob("*.py")
              for name in re.findall(r"""(?:make|\.client)\(["']([a-z0-9-]+)["']""", path.read_text())}
    assert called and called <= kept, f"add to BOTOCORE_SERVICES: {sorted(called - kept)}"
    data = build_dir / "PorticoLayer" / "python" / "botocore" / "data"
    assert {p.name for p in data.iterdir() if p.is_dir()} == kept
    assert (data / "endpoints.json").exists() and (data / "sdk-default-configuration.json").exists()


def _read(path) -> bytes:
    import gzip

    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def test_layer_binaries_are_for_lambda_arm64(build_dir):
    python = build_dir / "PorticoLayer" / "python"
    for so in python.rglob("*.so"):
        assert "aarch64" in so.name or "cpython-313" in so.name, f"not an arm64 / cp313 binary: {so}"
    for tag in python.glob("*.dist-info/WHEEL"):
        for line in tag.read_text().splitlines():
            if line.startswith("Tag:"):
                assert line.split("-")[-1] in ("any", "manylinux2014_aarch64") or "aarch64" in line, (tag, line)


def test_layer_lock_satisfies_what_pyproject_declares():
    """The layer's lock (uv, for arm64 / CPython 3.13) pins every [project] dependency within its range."""
    from packaging.requirements import Requirement

    locked = {name.lower(): version for name, version in _locked(LAYER_LOCK).items()}
    for spec in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        req = Requirement(spec)
        assert req.name.lower() in locked, f"{req.name} is not in {LAYER_LOCK.name}: run make lock"
        assert req.specifier.contains(locked[req.name.lower()]), f"{req.name}=={locked[req.name.lower()]} ∉ {spec}"


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
