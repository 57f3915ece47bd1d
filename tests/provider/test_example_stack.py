"""examples/service-stack/template.yaml: lints clean, and speaks the provider's and the main stack's language."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from cfnlint.decode import decode

from portico.spec import SPEC_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "service-stack" / "template.yaml"


def test_cfn_lint_reports_nothing():
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    done = subprocess.run([str(cfn_lint), "--format", "parseable", "--", str(EXAMPLE)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ""


def test_the_route_uses_only_provider_properties_and_the_main_stack_exports():
    template, matches = decode(str(EXAMPLE))
    assert not matches
    route = template["Resources"]["Route"]
    assert route["Type"] == "Custom::ServiceRoute"
    allowed = {a[:1].upper() + a[1:] for a in SPEC_ATTRIBUTES} | {"ServiceToken", "ServiceTimeout"}
    assert set(route["Properties"]) <= allowed
    assert {"Service", "Cluster", "ContainerPort", "Path"} <= set(route["Properties"])
    assert 1 <= route["Properties"]["ServiceTimeout"] <= 900  # never longer than the provider's Lambda timeout
    imported = set(re.findall(r"\$\{PorticoStackName\}-(\w+)", EXAMPLE.read_text()))
    main, _ = decode(str(ROOT / "template.yaml"))
    exported = {str(o.get("Export", {}).get("Name", {}).get("Fn::Sub", "")).removeprefix("${AWS::StackName}-")
                for o in main.get("Outputs", {}).values()}
    assert imported == {"ServiceToken", "LoadBalancerSecurityGroupId"}
    assert imported <= exported
    ecs = template["Resources"]["Service"]["Properties"]
    assert ecs["DeploymentController"] == {"Type": "ECS"} and "LoadBalancers" not in ecs
