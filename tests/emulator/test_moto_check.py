"""The emulator checks at start that moto still has every target it patches: a missing one stops it with one
line naming the target and the moto version (a silent no-op patch would emulate less than the docs say)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

import pytest

# Run before the emulator in a fresh interpreter: moto as a future release might ship it.
GONE = {
    "route": ("import moto.cloudformation.urls as u\n"
              "u.url_paths.pop('{0}/cloudformation_(?P<region>[^/]+)/cfnresponse$')\n",
              "URL route '{0}/cloudformation_(?P<region>[^/]+)/cfnresponse$'"),
    "method": ("from moto.apigateway.models import APIGatewayBackend\n"
               "del APIGatewayBackend.create_deployment\n",
               "moto.apigateway.models.APIGatewayBackend.create_deployment"),
    "module": ("import sys\nsys.modules['moto.cloudwatch.models'] = None\n",
               "the cloudwatch patch cannot apply"),
}


@pytest.mark.parametrize("what", sorted(GONE))
def test_a_missing_target_stops_the_emulator_naming_it(tmp_path, what):
    code, named = GONE[what]
    (tmp_path / "sitecustomize.py").write_text(code)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    proc = subprocess.run([sys.executable, "-m", "portico_cli.local_aws.emulator", "-H", "127.0.0.1", "-p", "0"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"portico emulator: moto {version('moto')}"), lines[0]
    assert named in lines[0] and "moto==" in lines[0]


def test_an_addition_moto_now_makes_is_a_mismatch():
    from portico_cli.local_aws.emulator import MotoMismatch, add

    class Model:
        def delete(self):
            return "moto's own"

    with pytest.raises(MotoMismatch, match=r"now defines .*Model\.delete"):
        add(Model, "delete", lambda self: "portico's")
    assert Model().delete() == "moto's own"


def test_the_installed_emulator_patches_the_live_cfnresponse_route():
    """moto 5.2.x routes a custom resource's answer through url_paths captured at import: the route must point
    at the emulator's handler, or answers are lost and the stack waits for ever."""
    from moto.cloudformation import urls

    from portico_cli.local_aws.emulator import install
    from portico_cli.local_aws.emulator.cloudformation.custom import CFN_RESPONSE_ROUTE, _cfnresponse

    install()
    assert urls.url_paths[CFN_RESPONSE_ROUTE] is _cfnresponse
