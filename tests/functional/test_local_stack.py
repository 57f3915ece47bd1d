"""The local stack is template.yaml deployed (portico_cli/local_aws/stack.py): the network it needs has the ids
samconfig.toml's `local` environment names, and the stack has the template's stages, stage settings, outputs
and resources, with the settings its functions run with."""

from __future__ import annotations

import tomllib
from pathlib import Path

from portico_cli.local_aws import account as local
from portico_cli.local_aws import stack as local_stack

ROOT = Path(__file__).resolve().parents[2]


def test_the_network_has_the_ids_samconfig_names_on_every_emulator(aws):
    overrides = dict(o.split("=", 1) for o in tomllib.loads((ROOT / "samconfig.toml").read_text())[
        "local"]["deploy"]["parameters"]["parameter_overrides"])
    vpc, subnets = local_stack.network(aws)
    assert (overrides["VpcId"], overrides["SubnetIds"]) == (vpc, ",".join(subnets))
    assert local_stack.network(aws) == (vpc, subnets)  # found again, not made twice
    zones = [s["AvailabilityZoneId"] for s in local.session(aws).client("ec2", endpoint_url=aws).describe_subnets(
        SubnetIds=subnets)["Subnets"]]
    assert sorted(zones) == ["use1-az1", "use1-az6"]  # zones VPC links V2 exist in


def test_the_local_stack_is_the_template_deployed(aws, tmp_path):
    settings = local_stack.deploy(aws, cache=tmp_path)
    s = local.session(aws)
    cfn, apigw = s.client("cloudformation", endpoint_url=aws), s.client("apigateway", endpoint_url=aws)
    stack = cfn.describe_stacks(StackName=local_stack.STACK)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["RestApiId"] == settings.rest_api_id and outputs["RegistryTableName"] == settings.registry_table
    assert settings.stages == ("dev", "qa", "prod") and settings.allowed_clusters == ("demo",)
    for stage in apigw.get_stages(restApiId=settings.rest_api_id)["item"]:
        assert "*/*" in stage.get("methodSettings", {}), stage["stageName"]  # the template's stage-wide settings
    assert list(tmp_path.iterdir()), "the transformed template is cached by its hash"
    again = local_stack.deploy(aws, cache=tmp_path)  # from the cache: nothing to change
    assert again.rest_api_id == settings.rest_api_id
    assert cfn.describe_stacks(StackName=local_stack.STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"

