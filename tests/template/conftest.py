"""Fixtures for the template checks: the parsed template, the tool venvs, the SAM build."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from template_support import BUILD_DIR, CHECKOV, ROOT, SAM, TOOLS, load_template, make, missing_handlers, run


def pytest_configure(config):
    config.addinivalue_line("markers", "tools: needs the .tools/ venvs (aws-sam-cli, checkov); installs them once")


@pytest.fixture(scope="session")
def template() -> dict:
    return load_template()


@pytest.fixture(scope="session")
def resources(template) -> dict:
    return template["Resources"]


@pytest.fixture(scope="session")
def sam_tools() -> Path:
    make("tools-sam")
    return SAM


@pytest.fixture(scope="session")
def checkov_tool() -> Path:
    make("tools-checkov")
    return CHECKOV


@pytest.fixture(scope="session")
def build_dir(sam_tools, tmp_path_factory) -> Path:
    """`sam build` output. Built in place by `make sam-build` (stamped) when every handler exists;
    while a handler that lands later is missing, built in a throw-away copy of the tree in which that
    handler is a stub (never written into the repository)."""
    missing = missing_handlers()
    if not missing:
        make("sam-build")
        return BUILD_DIR
    scratch = tmp_path_factory.mktemp("sam-build")
    for name in ("template.yaml", "pyproject.toml", "mk", "functions", "layers"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(
            src, scratch / name, **({"ignore": shutil.ignore_patterns("__pycache__")} if src.is_dir() else {}))
    for folder in missing.values():
        (scratch / folder / "app.py").write_text("def handler(event, context):\n    return None\n")
    (scratch / ".tools").symlink_to(TOOLS)
    proc = run(SAM, "build", "--template-file", "template.yaml", "--build-dir", ".aws-sam/build", cwd=scratch)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return scratch / ".aws-sam" / "build"


