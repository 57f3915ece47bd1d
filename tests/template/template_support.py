"""Shared helpers of tests/template: paths, the parsed template, running mk/tools.mk and the tools.

The tools (aws-sam-cli, checkov) live in their own venvs under .tools/, installed and stamped by
mk/tools.mk; the fixtures call those make targets, so a test run on a clean clone installs them once
(about a minute, see docs/deploy.md) and later runs cost nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
TOOLS = ROOT / ".tools"
SAM = TOOLS / "sam" / "bin" / "sam"
CFN_LINT = TOOLS / "sam" / "bin" / "cfn-lint"
CHECKOV = TOOLS / "checkov" / "bin" / "checkov"
BUILD_DIR = ROOT / ".aws-sam" / "build"

# Function logical id -> handler folder (the contract in template.yaml).
FUNCTIONS = {
    "RegistryStreamFunction": "functions/stream",
    "SweeperFunction": "functions/sweeper",
    "ServiceRouteProviderFunction": "functions/provider",
    "ApiGatewayAccountFunction": "functions/provider",  # the provider's handler, with a role of its own
}
# The functions that reconcile (the account check only reads and sets API Gateway's account role).
RECONCILING = sorted(set(FUNCTIONS) - {"ApiGatewayAccountFunction"})
# Handlers that land with a later issue: their absence skips (not fails) the checks that need them.
LATER = {"ServiceRouteProviderFunction": "issue 4 (CloudFormation front-end)"}

TOOL_ENV = {
    **os.environ,
    "SAM_CLI_TELEMETRY": "0",
    "SAM_CLI_CONTACT_TELEMETRY": "0",
    "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
}


NLB = "AWS::ElasticLoadBalancingV2::LoadBalancer"
LINK = "AWS::ApiGateway::VpcLink"
LINK_V2 = "AWS::ApiGatewayV2::VpcLink"


def load_template(path: Path = TEMPLATE) -> dict:
    return cfn_yaml.load(str(path))


def make(*targets: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run targets of mk/tools.mk (the top-level Makefile includes it; calling the fragment directly
    keeps these tests independent of the rest of the Makefile)."""
    proc = subprocess.run(["make", "-s", "-f", "mk/tools.mk", *targets], cwd=cwd, env=TOOL_ENV,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f"make {' '.join(targets)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def run(*cmd, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=TOOL_ENV, capture_output=True, text=True,
                          timeout=timeout)


def missing_handlers() -> dict[str, str]:
    return {fid: folder for fid, folder in FUNCTIONS.items() if not (ROOT / folder / "app.py").is_file()}


def function_ids(resources: dict) -> list[str]:
    return sorted(k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function")


def statements(document: dict) -> list[dict]:
    """A policy document's statements, each as it is when it exists: a statement under `Fn::If [cond,
    statement, AWS::NoValue]` is there exactly when its condition holds (test_pool.py evaluates that)."""
    out = []
    for s in document["Statement"]:
        if "Fn::If" in s:
            s = s["Fn::If"][1]
        out.append(s)
    return out


def role_statements(resources: dict, function_id: str, present=lambda policy_id: True) -> list[dict]:
    """Every IAM statement the function's role carries: its inline policies and the managed policies of
    this template attached to it (machine-readable; used by the IAM contract tests). `present`: which managed
    policies count (e.g. those that exist in one backend mode, Deployed(...).exists); all by default."""
    role_ref = resources[function_id]["Properties"]["Role"]
    role_id = role_ref["Fn::GetAtt"][0] if isinstance(role_ref["Fn::GetAtt"], list) else \
        role_ref["Fn::GetAtt"].split(".")[0]
    role = resources[role_id]["Properties"]
    out: list[dict] = []
    for policy in role.get("Policies", []):
        out.extend(statements(policy["PolicyDocument"]))
    for arn in role.get("ManagedPolicyArns", []):
        # A mode's policy (Fn::If [UseAlb, Ref AlbRulesPolicy, AWS::NoValue]) counts: the role may carry it.
        arn = arn["Fn::If"][1] if isinstance(arn, dict) and "Fn::If" in arn else arn
        assert isinstance(arn, dict) and "Ref" in arn, f"{role_id}: only this template's managed policies"
        if present(arn["Ref"]):
            out.extend(statements(resources[arn["Ref"]]["Properties"]["PolicyDocument"]))
    return out


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------ the template, evaluated

# Values for the parameters without a default (the rest keep theirs).
REQUIRED = {"VpcId": "vpc-0123456789abcdef0", "VpcCidr": "10.0.0.0/16",
            "SubnetIds": "subnet-0123456789abcdef0,subnet-0fedcba9876543210", "ClusterNames": "services"}


def digest(text: str, width: int, upper: bool = False) -> str:
    """A made-up id: stable across runs, the length AWS's has."""
    value = hashlib.sha256(text.encode()).hexdigest()[:width]
    return value.upper() if upper else value


class NoValue:
    """AWS::NoValue: dropped from the list (or the property) it stands in."""


class Dangling(AssertionError):
    pass


class Deployed:
    """template.yaml as CloudFormation would see it for one set of parameter values."""

    def __init__(self, template: dict, stack: str = "portico-prod", **params):
        self.template = template
        self.resources = template["Resources"]
        self.stack = stack
        self.params: dict[str, object] = {}
        for name, p in template["Parameters"].items():
            raw = str(params.get(name, REQUIRED.get(name, p.get("Default", ""))))
            self.params[name] = raw.split(",") if p["Type"] == "CommaDelimitedList" else raw
        self.pseudo = {"AWS::StackName": stack, "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
                       "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}

    # -- conditions
    def condition(self, name: str) -> bool:
        return self._cond(self.template["Conditions"][name])

    def _cond(self, node) -> bool:
        (fn, args), = node.items()
        if fn == "Condition":
            return self.condition(args)
        if fn == "Fn::Not":
            return not self._cond(args[0])
        if fn == "Fn::And":
            return all(self._cond(a) for a in args)
        if fn == "Fn::Or":
            return any(self._cond(a) for a in args)
        if fn == "Fn::Equals":
            a, b = (self.resolve(x) for x in args)
            return str(a) == str(b)
        raise NotImplementedError(fn)

    def exists(self, logical_id: str) -> bool:
        cond = self.resources[logical_id].get("Condition")
        return cond is None or self.condition(cond)

    def of_type(self, type_: str) -> list[str]:
        return [k for k, v in self.resources.items() if v["Type"] == type_ and self.exists(k)]

    # -- made-up physical ids and attributes
    def ref(self, name: str):
        if name in self.pseudo:
            return self.pseudo[name]
        if name == "AWS::NoValue":
            return NoValue
        if name in self.params:
            return self.params[name]
        if name not in self.resources:
            return f"<{name}>"  # generated by the SAM transform (e.g. SweeperFunctionSweep)
        if not self.exists(name):
            raise Dangling(f"Ref {name}: the resource does not exist with these parameters")
        type_ = self.resources[name]["Type"]
        if type_ == NLB:
            return f"arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/{self.lb_full_name(name)}"
        if type_ == LINK:
            return digest(name, 6)  # VPC link ids have 6 characters
        if type_ == "AWS::ApiGateway::RestApi":
            return digest(name, 10)
        if type_ == "AWS::ApiGateway::UsagePlan":
            return digest(name, 6)
        return f"{self.stack}-{name}-{digest(name, 12, upper=True)}"  # CloudFormation's generated names

    def lb_full_name(self, name: str) -> str:
        # CloudFormation names an NLB <stack prefix>-<id prefix>-<suffix>, 32 characters at most.
        generated = f"{self.stack[:10]}-{name[:5]}-{digest(name, 12)}"[:32]
        return f"net/{generated}/{digest(name + '/id', 16)}"

    def get_att(self, name: str, attr: str):
        if name in self.resources and not self.exists(name):
            raise Dangling(f"GetAtt {name}.{attr}: the resource does not exist with these parameters")
        if self.resources.get(name, {}).get("Type") == NLB:
            full = self.lb_full_name(name)
            return {"LoadBalancerFullName": full, "DNSName": f"{full.split('/')[1]}.elb.us-east-1.amazonaws.com",
                    "LoadBalancerArn": self.ref(name)}[attr]
        if attr == "Arn":
            service = self.resources.get(name, {}).get("Type", "AWS::X::Y").split("::")[1].lower()
            return f"arn:aws:{service}:us-east-1:123456789012:{name.lower()}/{self.ref(name)}"
        if attr == "StreamArn":
            return f"{self.get_att(name, 'Arn')}/stream/2026-01-01T00:00:00.000"
        return f"<{name}.{attr}>"

    # -- intrinsic functions
    def resolve(self, node):
        if isinstance(node, list):
            return [v for v in (self.resolve(x) for x in node) if v is not NoValue]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (key, args), = node.items()
            if key == "Ref":
                return self.ref(args)
            if key == "Fn::GetAtt":
                name, attr = args if isinstance(args, list) else args.split(".", 1)
                return self.get_att(name, attr)
            if key == "Fn::If":
                return self.resolve(args[1] if self.condition(args[0]) else args[2])
            if key == "Fn::Join":
                return args[0].join(str(v) for v in self.resolve(args[1]))
            if key == "Fn::Split":
                return str(self.resolve(args[1])).split(args[0])
            if key == "Fn::Select":
                return self.resolve(args[1])[int(self.resolve(args[0]))]
            if key == "Fn::Sub":
                text, local = (args, {}) if isinstance(args, str) else (args[0], self.resolve(args[1]))
                return re.sub(r"\$\{([^!}][^}]*)\}", lambda m: str(self._sub_var(m.group(1), local)), text)
            if key.startswith("Fn::"):
                raise NotImplementedError(key)
        out = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NoValue}

    def _sub_var(self, var: str, local: dict):
        if var in local:
            return local[var]
        if "." in var and not var.startswith("AWS::"):
            return self.get_att(*var.split(".", 1))
        value = self.ref(var)
        return ",".join(value) if isinstance(value, list) else value

    # -- what portico gets
    def function_env(self, function_id: str) -> dict[str, str]:
        glob = self.template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        own = (self.resources[function_id]["Properties"].get("Environment") or {}).get("Variables", {})
        return self.resolve({**glob, **own})

    def policy(self, policy_id: str) -> dict:
        return self.resolve(self.resources[policy_id]["Properties"]["PolicyDocument"])

    def role_statements(self, function_id: str) -> list[dict]:
        """Every statement of the function's role: its managed policies (this template's) and inline ones."""
        role = self.resources[self.resources[function_id]["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
        arns = [(a["Fn::If"][1] if self.condition(a["Fn::If"][0]) else a["Fn::If"][2]) if "Fn::If" in a else a
                for a in role.get("ManagedPolicyArns", [])]  # a mode's policy: this stack's
        out = [s for arn in arns if arn["Ref"] != "AWS::NoValue" for s in self.policy(arn["Ref"])["Statement"]]
        return out + [s for p in role.get("Policies", []) for s in self.resolve(p["PolicyDocument"])["Statement"]]
