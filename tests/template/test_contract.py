"""Contracts between template.yaml and the code: handlers exist and import, settings are all set."""

from __future__ import annotations

import importlib.util
import re
import sys

import pytest
from template_support import FUNCTIONS, LATER, ROOT, function_ids

from portico import settings

SETTINGS_SOURCE = ROOT / "layers" / "portico" / "portico" / "settings.py"


def function_env(template: dict, function_id: str) -> dict:
    glob = (template.get("Globals", {}).get("Function", {}).get("Environment", {}) or {}).get("Variables", {})
    own = (template["Resources"][function_id]["Properties"].get("Environment", {}) or {}).get("Variables", {})
    return {**glob, **own}


def settings_env_names() -> set[str]:
    """Every PORTICO_* variable settings.py reads: the ENV_NAMES tuple and, as a cross-check, every
    "PORTICO_..." literal in the module (so a name added without updating ENV_NAMES is caught too)."""
    literal = set(re.findall(r'"(PORTICO_[A-Z0-9_]+)"', SETTINGS_SOURCE.read_text()))
    return set(settings.ENV_NAMES) | literal


def test_template_declares_exactly_the_functions_of_the_contract(resources):
    assert function_ids(resources) == sorted(FUNCTIONS)
    for function_id, folder in FUNCTIONS.items():
        props = resources[function_id]["Properties"]
        assert props["CodeUri"].rstrip("/") == folder
        assert props["Handler"] == "app.handler"
        assert resources[function_id]["Metadata"]["BuildMethod"] == "makefile"
        makefile = (ROOT / folder / "Makefile").read_text()
        assert re.search(rf"^build-{function_id}:", makefile, re.M), f"{folder}/Makefile: build-{function_id}"


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_every_setting_is_set_for_every_function(template, function_id):
    env = function_env(template, function_id)
    missing = sorted(settings_env_names() - set(env))
    assert not missing, f"{function_id} lacks {missing}"
    unknown = sorted(k for k in env if k.startswith("PORTICO_") and k not in settings_env_names())
    assert not unknown, f"{function_id} sets variables portico never reads: {unknown}"
    assert env["POWERTOOLS_SERVICE_NAME"] == "portico" and "POWERTOOLS_LOG_LEVEL" in env
    # Emulator-only settings never reach AWS.
    assert settings.ENDPOINT_URL not in env


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_handler_file_exists_and_handler_is_callable(template, function_id, monkeypatch):
    folder = ROOT / FUNCTIONS[function_id]
    module_name, _, attr = template["Resources"][function_id]["Properties"]["Handler"].rpartition(".")
    path = folder / f"{module_name.replace('.', '/')}.py"
    if not path.is_file() and function_id in LATER:
        pytest.skip(f"{path.relative_to(ROOT)} lands with {LATER[function_id]}")
    assert path.is_file(), f"{function_id}: {path.relative_to(ROOT)} is missing"
    # Import it as Lambda would: a fresh module, the template's settings in the environment (dummy values
    # where the template has a reference), no endpoint, no network.
    for name in settings_env_names():
        monkeypatch.setenv(name, {settings.PORT_RANGE: "10000-10999", settings.DEPLOY_INTERVAL: "5",
                                   settings.ALLOW_UNAUTHENTICATED: "false"}.get(name, "x"))
    monkeypatch.setenv(settings.STAGE, "dev")
    monkeypatch.setenv(settings.STAGES, "dev")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    spec = importlib.util.spec_from_file_location(f"_portico_handler_{function_id}", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert callable(getattr(module, attr)), f"{function_id}: {attr} is not callable"
