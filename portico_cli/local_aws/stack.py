"""The local stack: template.yaml deployed into the local AWS through its CloudFormation, as `sam deploy` does.

`portico local up` makes the network the template expects and a real account brings (a VPC and two subnets,
whose ids are the same on every run, so samconfig.toml's `local` environment can name them), packages the
functions and the layer from the source tree, uploads them and the template to the local S3 and creates (or
updates) the stack through a change set: the SAM transform, the dependency order, the custom resources and
the rollback are the emulator's CloudFormation's, the same path `sam deploy --config-env local` takes. The
stack therefore has exactly the template's resources, stages, settings and outputs; portico's settings are
read back from the deployed sweeper's environment, as the functions themselves read them.

Packaging skips `sam build`: a function's package is its folder's modules and the layer's is the portico
package under python/ (what their Makefiles copy); the layer's locked dependencies are not installed into it,
since the emulator's Lambda runs functions on this project's interpreter, which has them (docs/deploy.md).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import time
import zipfile
from pathlib import Path

import requests

from portico.settings import Settings
from portico_cli.local_aws.account import CREDENTIALS, REGION, session

ROOT = Path(__file__).resolve().parents[2]
STACK = "portico-local"
BUCKET = "portico-local-artifacts"
NETWORK_NAME = "portico-local"
VPC_CIDR = "10.42.0.0/16"
SUBNETS = (("10.42.1.0/24", f"{REGION}a"), ("10.42.2.0/24", f"{REGION}b"))  # zones VPC links V2 are in
NETWORK_SEED = 24  # the emulator's id generator is seeded with it, so the network's ids never change
# What samconfig.toml's `local` environment deploys besides the network (keep the two in step: a test checks).
PARAMETERS = {"VpcCidr": VPC_CIDR, "ClusterNames": "demo", "StageNames": "dev,qa,prod",
              "DeletionProtection": "false", "AllowUnauthenticated": "true"}


class DeployFailed(RuntimeError):
    """The stack did not reach a complete state; the message holds CloudFormation's reasons."""


@functools.lru_cache(maxsize=8)
def _client(service: str, endpoint: str):
    """One session for local up's clients: each new session reads botocore's endpoint data again (~0.3 s)."""
    return _session().client(service, endpoint_url=endpoint)


@functools.cache
def _session():
    return session("")


def clients(endpoint: str) -> None:
    """Make the clients deploy() calls through (their models load in ~0.5 s) without calling the local AWS."""
    for service in ("ec2", "s3", "cloudformation", "lambda"):
        _client(service, endpoint)


def network(endpoint: str) -> tuple[str, list[str]]:
    """The local VPC and its two subnets (made once; the same ids on every emulator): (vpc id, subnet ids)."""
    ec2 = _client("ec2", endpoint)
    found = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": [NETWORK_NAME]}])["Vpcs"]
    if found:
        vpc = found[0]["VpcId"]
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
        return vpc, [s["SubnetId"] for s in sorted(subnets, key=lambda s: s["CidrBlock"])]
    # The ids are random in AWS; here they come from the emulator's generator, seeded right before they are made
    # (moto's /moto-api/seed), the EC2 backend being loaded first so that its default VPC is no part of the draw.
    requests.post(f"{endpoint}/moto-api/seed", params={"a": NETWORK_SEED}, timeout=10).raise_for_status()
    vpc = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=zone)["Subnet"]["SubnetId"]
               for cidr, zone in SUBNETS]
    ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": NETWORK_NAME}])
    return vpc, subnets


def _zip(files: dict[str, Path]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # the same bytes for the same code
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return out.getvalue()


def _package(folder: Path, layer: bool) -> bytes:
    if layer:
        return _zip({f"python/{p.relative_to(folder).as_posix()}": p for p in (folder / "portico").rglob("*.py")})
    return _zip({p.name: p for p in folder.glob("*.py")})


@dataclasses.dataclass(frozen=True)
class Packaged:
    """template.yaml with each function's CodeUri and the layer's ContentUri on the local S3 (JSON), and the
    packages to upload there (key: zip)."""
    template: str
    artifacts: dict[str, bytes]


def package(root: Path = ROOT) -> Packaged:
    """Package the project without the local AWS: `local up` does it while the emulator starts."""
    from samtranslator.yaml_helper import yaml_parse

    template, artifacts = yaml_parse((root / "template.yaml").read_text()), {}
    for resource in template["Resources"].values():
        key = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}.get(
            resource["Type"])
        if key and isinstance(resource["Properties"].get(key), str):
            data = _package(root / resource["Properties"][key], layer=key == "ContentUri")
            name = f"{STACK}/{hashlib.md5(data).hexdigest()}"  # noqa: S324 - a content key, as sam package names it
            artifacts[name] = data
            resource["Properties"][key] = f"s3://{BUCKET}/{name}"
    return Packaged(json.dumps(template), artifacts)


def deploy(endpoint: str, parameters: dict[str, str] | None = None, *, stack: str = STACK,
           root: Path = ROOT, cache: Path | None = None, packaged: Packaged | None = None) -> Settings:
    """Create or update `stack` from template.yaml (or `packaged`) through a change set; portico's settings.

    With `cache`, the template the SAM transform made of the same packaged template and parameters last time
    is sent instead (the transform is the slowest step of a first deploy on a fresh emulator), and kept there."""
    cfn, s3 = _client("cloudformation", endpoint), _client("s3", endpoint)
    vpc, subnets = network(endpoint)
    values = {"VpcId": vpc, "SubnetIds": ",".join(subnets), **PARAMETERS, **(parameters or {})}
    s3.create_bucket(Bucket=BUCKET)
    packaged = packaged or package(root)
    for name, data in packaged.artifacts.items():
        s3.put_object(Bucket=BUCKET, Key=name, Body=data)
    body = packaged.template
    cached = cache / f"{hashlib.sha256((body + json.dumps(values, sort_keys=True)).encode()).hexdigest()}.json" \
        if cache else None
    if cached and cached.is_file():
        body = cached.read_text()
    key = f"{STACK}/{hashlib.sha256(body.encode()).hexdigest()}.template"
    s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode())
    _change_set(cfn, stack, f"{endpoint}/{BUCKET}/{key}", values)
    if cached and not cached.is_file():
        processed = cfn.get_template(StackName=stack)["TemplateBody"]
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(processed if isinstance(processed, str) else json.dumps(processed))
    return settings(endpoint, stack)


def _change_set(cfn, stack: str, url: str, values: dict[str, str]) -> None:
    """Create `stack`, or update it, through a change set of the template at `url`; DeployFailed if it fails."""
    existing = _status(cfn, stack)
    if existing in ("REVIEW_IN_PROGRESS", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "DELETE_FAILED"):
        cfn.delete_stack(StackName=stack)  # a stack that never got made (or half made) cannot be updated
        existing = None
    change_set = cfn.create_change_set(
        StackName=stack, ChangeSetName=f"portico-local-up-{int(time.time())}",
        ChangeSetType="UPDATE" if existing else "CREATE", TemplateURL=url,
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
        Tags=[{"Key": "project", "Value": "portico"}, {"Key": "environment", "Value": "local"}])["Id"]
    described = cfn.describe_change_set(ChangeSetName=change_set)
    if described["Status"] == "FAILED" and "didn't contain changes" in described.get("StatusReason", ""):
        cfn.delete_change_set(ChangeSetName=change_set)
        return
    cfn.execute_change_set(ChangeSetName=change_set)  # the emulator finishes before it answers
    status = _status(cfn, stack)
    if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        reasons = [f"{e['LogicalResourceId']}: {e['ResourceStatusReason']}" for e in
                   cfn.describe_stack_events(StackName=stack)["StackEvents"]
                   if e["ResourceStatus"].endswith("FAILED") and e.get("ResourceStatusReason")]
        raise DeployFailed(f"stack {stack} ended {status}: " + "; ".join(reversed(reasons)))


def _status(cfn, stack: str) -> str | None:
    found = [st for st in cfn.describe_stacks()["Stacks"] if st["StackName"] == stack]
    return found[0]["StackStatus"] if found else None


def settings(endpoint: str, stack: str = STACK) -> Settings:
    """portico's settings for the deployed `stack`: the environment its functions run with, here."""
    outputs = {o["OutputKey"]: o["OutputValue"] for o in _client("cloudformation", endpoint)
               .describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])}
    env = _client("lambda", endpoint).get_function_configuration(
        FunctionName=outputs["SweeperFunctionName"])["Environment"]["Variables"]
    return dataclasses.replace(Settings.from_env(env), endpoint_url=endpoint, region=REGION)


def write_env(path: Path, settings: Settings, extra: dict[str, str] | None = None) -> None:
    """The stack's settings and the local account's credentials as an env file (`.portico/local.env`)."""
    env = {**settings.to_env(), **CREDENTIALS, "AWS_DEFAULT_REGION": settings.region or REGION, **(extra or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# portico local stack: `set -a; . .portico/local.env; set +a` points boto3, the CLI and handlers here"]
    lines += [f"{k}={v}" for k, v in env.items()]
    path.write_text("\n".join(lines) + "\n")
