"""The local stack is template.yaml deployed (portico_cli/local_aws/stack.py): the network it needs has the ids
samconfig.toml's `local` environment names, and the stack has the template's stages, stage settings, outputs
and resources, with the settings its functions run with."""

from __future__ import annotations

import tomllib
from pathlib import Path

from portico_cli.local_aws import bootstrap as local
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
    assert_hand_made_stack_matches(aws, settings)


def assert_hand_made_stack_matches(endpoint: str, deployed) -> None:
    """The tests' hand-made stack (bootstrap.py) has what the deployed template has in the parts it makes:
    stages, the REST API's endpoint and key source, the health route, the usage-plan tiers' limits, the tables'
    keys and streams, the stages' tracing and stage-wide method settings. Not made by hand (docs/deploy.md): access
    logs."""
    hand = local.bootstrap(endpoint, demo=False)
    s = local.session(endpoint)
    apigw, ddb = s.client("apigateway", endpoint_url=endpoint), s.client("dynamodb", endpoint_url=endpoint)
    assert hand.stages == deployed.stages

    def api(settings):
        got = apigw.get_rest_api(restApiId=settings.rest_api_id)
        paths = {r["path"]: sorted(r.get("resourceMethods") or {}) for r in apigw.get_resources(
            restApiId=settings.rest_api_id, limit=500)["items"]}
        return got.get("endpointConfiguration"), got.get("apiKeySource"), paths.get("/_portico/health")

    def stages(settings):
        return sorted((st["stageName"], st.get("tracingEnabled"), (st.get("methodSettings") or {}).get("*/*"))
                      for st in apigw.get_stages(restApiId=settings.rest_api_id)["item"])

    def tiers(settings):
        plans = [p for p in apigw.get_usage_plans(limit=500)["items"]
                 if {st["apiId"] for st in p.get("apiStages", [])} == {settings.rest_api_id}]
        return sorted(((p["throttle"], p["quota"], sorted(st["stage"] for st in p["apiStages"])) for p in plans),
                      key=repr)

    def table(name):
        got = ddb.describe_table(TableName=name)["Table"]
        return (got["KeySchema"], got["AttributeDefinitions"], got.get("BillingModeSummary", {}).get("BillingMode"),
                got.get("StreamSpecification", {}).get("StreamViewType"))

    problems = [(what, mine, theirs) for what, mine, theirs in (
        ("api", api(hand), api(deployed)), ("stages", stages(hand), stages(deployed)),
        ("tiers", tiers(hand), tiers(deployed)),
        ("registry", table(hand.registry_table), table(deployed.registry_table)),
        ("state", table(hand.state_table), table(deployed.state_table))) if mine != theirs]
    assert not problems, problems
