"""Fixtures of the product tests (the session's moto server runs `portico.product.emulator`)."""

import pytest
from typer.testing import CliRunner


@pytest.fixture
def cli(stack, monkeypatch, tmp_path):
    """Run `portico ...` in-process against the test stack; returns (exit code, stdout, stderr)."""
    from portico.cli import app

    monkeypatch.chdir(tmp_path)  # no .portico/local.env from the developer's folder
    for name, value in stack.to_env().items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(app, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return run
