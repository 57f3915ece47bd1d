"""The test session's moto server gets the operations portico's emulator adds (UpdateMethod)."""

from portico.product.emulator import install

install()


import pytest  # noqa: E402
from typer.testing import CliRunner  # noqa: E402


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
