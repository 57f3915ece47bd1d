"""Locked installs: the .venv holds exactly requirements/dev.txt, and every lock pins within pyproject's ranges.

`make install` syncs the .venv to the lock with uv (hashes checked); these tests catch a lock edited by hand, a
range widened without `make lock`, and a package installed beside the lock.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from importlib.metadata import distributions
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCKS = {
    "dev": ROOT / "requirements" / "dev.txt",
    "bootstrap": ROOT / "requirements" / "bootstrap.txt",
    "tools-sam": ROOT / "requirements" / "tools-sam.txt",
    "tools-checkov": ROOT / "requirements" / "tools-checkov.txt",
    "layer": ROOT / "layers" / "portico" / "requirements.txt",
}


def pins(lock: Path, *, here: bool = False) -> dict[str, str]:
    """name -> version; `here`: only the entries whose environment marker holds on this machine (the locks are
    universal: colorama on Windows, networkx from some Python on)."""
    found = {}
    for name, version, marker in re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\;]+)\s*(?:;\s*([^\\\n]+))?", lock.read_text(),
                                            re.M):
        if not (here and marker and not Marker(marker.strip()).evaluate()):
            found[canonicalize_name(name)] = version
    assert found, f"{lock} pins nothing"
    return found


@pytest.mark.parametrize("name", sorted(LOCKS))
def test_every_pin_is_exact_and_hashed(name):
    """Each entry of each lock is `name==version` followed by at least one sha256 hash: pip and uv refuse
    anything else with --require-hashes, so a hand-added loose line fails here first."""
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCKS[name].read_text().strip())
    for entry in entries:
        if entry.startswith("#"):
            continue
        assert re.match(r"^[A-Za-z0-9_.-]+(\[[^\]]+\])?==\S+", entry), f"{name}: not an exact pin: {entry[:60]}"
        assert "--hash=sha256:" in entry, f"{name}: no hash for {entry.split()[0]}"


def _ranges(*extras: str) -> list[Requirement]:
    optional = PYPROJECT["project"]["optional-dependencies"]
    seen, todo, out = set(), list(extras), [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for spec in optional[extra]:
            req = Requirement(spec)
            if req.name == "portico":
                todo.extend(req.extras)
            else:
                out.append(req)
    return out


@pytest.mark.parametrize(("lock", "extras"), [("dev", ("dev",)), ("layer", ())])
def test_lock_pins_within_pyprojects_ranges(lock, extras):
    locked = pins(LOCKS[lock])
    for req in _ranges(*extras):
        name = canonicalize_name(req.name)
        assert name in locked, f"{req} is not in {LOCKS[lock].relative_to(ROOT)}: run make lock"
        assert req.specifier.contains(locked[name], prereleases=True), \
            f"{LOCKS[lock].relative_to(ROOT)} pins {name}=={locked[name]}, outside {req}: run make lock"


def test_moto_range_is_the_locked_version():
    """The emulator patches moto's internals: pyproject pins moto exactly, to the version the lock installs."""
    local = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["local"]]
    moto = next(r for r in local if r.name == "moto")
    assert str(moto.specifier) == f"=={pins(LOCKS['dev'])['moto']}"


def test_bootstrap_lock_agrees_with_the_dev_lock():
    dev, bootstrap = pins(LOCKS["dev"]), pins(LOCKS["bootstrap"])
    assert {"pip", "setuptools", "uv"} <= set(bootstrap)
    assert {n: dev.get(n) for n in bootstrap} == bootstrap


def test_the_venv_is_exactly_the_lock():
    """What `pip freeze` would print equals requirements/dev.txt (the editable project aside)."""
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions()}
    installed.pop("portico", None)
    locked = pins(LOCKS["dev"], here=True)
    missing = {n: v for n, v in locked.items() if installed.get(n) != v}
    extra = sorted(set(installed) - set(locked))
    assert not missing and not extra, f"differs from the lock: {missing=} {extra=}; run make install"


@pytest.mark.parametrize(("lock", "package"), [("tools-sam", "aws-sam-cli"), ("tools-checkov", "checkov")])
def test_tool_locks_pin_their_tool_within_its_range(lock, package):
    spec = next(line for line in (ROOT / "requirements" / f"{lock}.in").read_text().splitlines()
                if line.startswith(package))
    assert Requirement(spec).specifier.contains(pins(LOCKS[lock])[package])


def test_the_cli_extra_installs_no_local_aws():
    """`pip install 'portico[cli]'` against a real account resolves (with its own deps) to no emulator, web
    server or JWT library: those are the `local` extra's."""
    import subprocess

    uv = Path(sys.executable).with_name("uv")
    out = subprocess.run([str(uv), "pip", "compile", "--quiet", "--no-header", "--python-version", "3.11",
                          str(ROOT / "pyproject.toml"), "--extra", "cli"],
                         capture_output=True, text=True, check=True, timeout=120,
                         env={**os.environ, "UV_NATIVE_TLS": "1"}).stdout
    resolved = {canonicalize_name(n) for n in re.findall(r"^([A-Za-z0-9_.-]+)==", out, re.M)}
    assert {"typer", "boto3", "aws-lambda-powertools"} <= resolved
    assert not resolved & {"moto", "uvicorn", "starlette", "httpx", "pyjwt", "flask", "werkzeug"}, resolved
