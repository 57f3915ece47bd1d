"""template.yaml and samconfig.toml read against issue 3, item by item (no tools, no AWS)."""

from __future__ import annotations

import re
import shlex
import tomllib

import pytest
from template_support import FUNCTIONS, ROOT, TEMPLATE, Deployed, as_list, role_statements, statements

# What CloudFormation reads as a reference (Ref, Fn::GetAtt, ${X} / ${X.Attr} in Fn::Sub): the emulator's reading.
from portico_cli.local_aws.emulator.cloudformation.template import references as refs

RECONCILERS = ("RegistryStreamFunction", "SweeperFunction")


def text_of(node) -> str:
    return repr(node)


# ------------------------------------------------------------------ parameters and samconfig


def test_every_formatted_parameter_has_a_validation(template):
    for name, p in template["Parameters"].items():
        if p["Type"] in ("String", "CommaDelimitedList"):
            assert "AllowedPattern" in p or "AllowedValues" in p, f"{name}: no AllowedPattern/AllowedValues"
        elif p["Type"] == "Number":
            assert "AllowedValues" in p or "MinValue" in p, f"{name}: no bounds"
        assert p.get("Description"), f"{name}: no Description"


def value_ok(param: dict, value: str) -> bool:
    values = [v.strip() for v in value.split(",")] if param["Type"] == "CommaDelimitedList" else [value]
    for v in values:
        if "AllowedValues" in param and v not in [str(a) for a in param["AllowedValues"]]:
            return False
        if "AllowedPattern" in param and not re.fullmatch(param["AllowedPattern"], v):
            return False
        if param["Type"] == "Number":
            n = float(v)
            if ("MinValue" in param and n < float(param["MinValue"])) or \
               ("MaxValue" in param and n > float(param["MaxValue"])):
                return False
    return True


def test_parameter_defaults_pass_their_own_validation(template):
    for name, p in template["Parameters"].items():
        if "Default" in p:
            assert value_ok(p, str(p["Default"])), f"{name}: default {p['Default']!r} fails its validation"


@pytest.mark.parametrize("value, ok", [
    ("10000-10999", True), ("80-80", True), ("10000", False), ("0-10", False), ("a-b", False)])
def test_port_range_pattern(template, value, ok):
    assert value_ok(template["Parameters"]["PortRange"], value) is ok


@pytest.mark.parametrize("value, ok", [
    ("dev", True), ("dev,qa,prod", True), ("dev,qa,prod,x", False), ("dev, qa", False), ("", False)])
def test_stage_names_pattern(template, value, ok):
    assert value_ok(template["Parameters"]["StageNames"], value) is ok


def test_optional_parameters_default_to_empty_or_safe(template):
    params = template["Parameters"]
    assert params["AlarmEmail"]["Default"] == "" and params["CognitoUserPoolArn"]["Default"] == ""
    assert params["AllowUnauthenticated"]["Default"] == "false"
    assert params["StageNames"]["Default"] == "dev"
    assert params["PortRange"]["Default"] == "10000-10999"


@pytest.fixture(scope="module")
def samconfig() -> dict:
    return tomllib.loads((ROOT / "samconfig.toml").read_text())


def overrides(section: dict) -> dict[str, str]:
    raw = section["parameter_overrides"]
    items = raw if isinstance(raw, list) else shlex.split(raw)
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = shlex.split(value)[0] if value.startswith(("'", '"')) else value
    return out


@pytest.mark.parametrize("env", ["default", "dev", "qa", "prod"])
def test_samconfig_environment_is_deployable(samconfig, template, env):
    assert samconfig["version"] == 0.1
    cfg = samconfig[env]
    assert cfg["global"]["parameters"]["stack_name"]
    deploy = cfg["deploy"]["parameters"]
    assert "CAPABILITY_IAM" in as_list(deploy["capabilities"]) or "CAPABILITY_IAM" in deploy["capabilities"]
    assert deploy.get("resolve_s3") or deploy.get("s3_bucket")
    params = template["Parameters"]
    values = overrides(deploy)
    assert set(values) <= set(params), f"{env}: unknown parameters {sorted(set(values) - set(params))}"
    required = {name for name, p in params.items() if "Default" not in p}
    assert required <= set(values), f"{env}: required parameters missing {sorted(required - set(values))}"
    for name, value in values.items():
        assert value_ok(params[name], value), f"{env}: {name}={value!r} fails the template's validation"


@pytest.mark.parametrize("env", ["default", "dev", "qa", "prod"])
def test_no_samconfig_environment_opens_services_to_the_internet(samconfig, template, env):
    """The endpoint is REGIONAL (public): auth=NONE would serve a service to anyone, so no environment
    allows it by default (the template's own default is false too)."""
    params = template["Parameters"]
    values = {k: str(p.get("Default")) for k, p in params.items()}
    values.update(overrides(samconfig[env]["deploy"]["parameters"]))
    assert values["AllowUnauthenticated"] == "false", f"{env}: AllowUnauthenticated={values['AllowUnauthenticated']}"
    assert values["DefaultAuth"] != "NONE", f"{env}: DefaultAuth=NONE"


def test_the_api_is_described_as_regional_with_private_backends(template):
    """The endpoint is public; only the backends are private. No text may call the API itself private."""
    assert template["Resources"]["RestApi"]["Properties"]["EndpointConfiguration"]["Types"] == ["REGIONAL"]
    texts = {"template Description": template["Description"], "README.md": (ROOT / "README.md").read_text(),
             "docs/deploy.md": (ROOT / "docs/deploy.md").read_text(),
             "pyproject.toml": (ROOT / "pyproject.toml").read_text()}
    for where, text in texts.items():
        assert not re.search(r"private (Amazon )?(API Gateway )?(REST )?API", text, re.I), where
    assert "regional" in template["Description"] and "public" in template["Description"]


def test_samconfig_environments_are_separate_stacks_and_prod_confirms(samconfig):
    stacks = [samconfig[e]["global"]["parameters"]["stack_name"] for e in ("default", "dev", "qa", "prod")]
    assert len(set(stacks)) == 4
    assert samconfig["prod"]["deploy"]["parameters"]["confirm_changeset"] is True
    assert overrides(samconfig["prod"]["deploy"]["parameters"]).get("DeletionProtection") == "true"


# ------------------------------------------------------------------ shared infrastructure


def pool_nlbs(resources: dict) -> set[str]:
    """Logical ids of the NLB pool (LoadBalancer, LoadBalancer2, ...; see test_pool.py)."""
    return {k for k, v in resources.items() if v["Type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer"
            and v["Properties"]["Type"] == "network"}


def test_internal_nlb_with_cross_zone_and_configurable_deletion_protection(resources):
    assert "LoadBalancer" in pool_nlbs(resources)
    for lb_id in sorted(pool_nlbs(resources)):
        lb = resources[lb_id]["Properties"]
        assert lb["Type"] == "network" and lb["Scheme"] == "internal", lb_id
        attrs = {a["Key"]: a["Value"] for a in lb["LoadBalancerAttributes"]}
        assert attrs["load_balancing.cross_zone.enabled"] == "true", lb_id
        assert attrs["deletion_protection.enabled"] == {"Ref": "DeletionProtection"}, lb_id
        assert refs(lb["SecurityGroups"]) == {"LoadBalancerSecurityGroup"}, lb_id
        assert refs(lb["Subnets"]) == {"SubnetIds"}, lb_id
    assert resources["VpcLink"]["Type"] == "AWS::ApiGateway::VpcLink"
    assert refs(resources["VpcLink"]["Properties"]["TargetArns"]) == {"LoadBalancer"}


def test_regional_rest_api_with_a_deployable_method(resources):
    api = resources["RestApi"]["Properties"]
    assert api["EndpointConfiguration"]["Types"] == ["REGIONAL"]
    method = resources["HealthMethod"]["Properties"]
    assert method["Integration"]["Type"] == "MOCK"
    assert "HealthMethod" in as_list(resources["InitialDeployment"]["DependsOn"])


def test_stages_log_trace_and_measure(resources, template):
    stages = {k: v for k, v in resources.items() if v["Type"] == "AWS::ApiGateway::Stage"}
    assert set(stages) == {"Stage1", "Stage2", "Stage3"}
    assert "Condition" not in stages["Stage1"]
    assert {stages["Stage2"]["Condition"], stages["Stage3"]["Condition"]} == {"HasSecondStage", "HasThirdStage"}
    for name, stage in stages.items():
        props = stage["Properties"]
        assert props["TracingEnabled"] is True, name
        assert refs(props["AccessLogSetting"]["DestinationArn"]) == {"ApiAccessLogGroup"}, name
        assert "$context.requestId" in props["AccessLogSetting"]["Format"]
        assert any(m.get("MetricsEnabled") for m in props["MethodSettings"]), name
    assert resources["ApiAccessLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_usage_plan_tiers_are_parameterised(resources):
    for tier in ("Basic", "Premium"):
        plan = resources[f"{tier}UsagePlan"]["Properties"]
        assert plan["UsagePlanName"] == {"Ref": f"{tier}PlanName"}
        assert plan["Throttle"] == {"RateLimit": {"Ref": f"{tier}RateLimit"},
                                    "BurstLimit": {"Ref": f"{tier}BurstLimit"}}
        assert plan["Quota"] == {"Limit": {"Ref": f"{tier}QuotaLimit"}, "Period": {"Ref": f"{tier}QuotaPeriod"}}
        assert "Stage1" in refs(plan["ApiStages"])


def test_registry_table(resources):
    t = resources["RegistryTable"]["Properties"]
    assert t["KeySchema"] == [{"AttributeName": "service", "KeyType": "HASH"}]
    assert t["AttributeDefinitions"] == [{"AttributeName": "service", "AttributeType": "S"}]
    assert t["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert t["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert t["SSESpecification"]["SSEEnabled"] is True


def test_state_table(resources):
    t = resources["StateTable"]["Properties"]
    assert t["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert t["BillingMode"] == "PAY_PER_REQUEST"
    assert t["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert t["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert t["SSESpecification"]["SSEEnabled"] is True


# ------------------------------------------------------------------ layer, functions, events


def test_layer_and_function_globals(template, resources):
    layer = resources["PorticoLayer"]
    assert layer["Properties"]["ContentUri"].rstrip("/") == "layers/portico"
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert re.search(r"^build-PorticoLayer:", (ROOT / "layers/portico/Makefile").read_text(), re.M)
    glob = template["Globals"]["Function"]
    assert glob["Runtime"] == "python3.13" and glob["Architectures"] == ["arm64"]
    assert glob["Layers"] == [{"Ref": "PorticoLayer"}] and glob["Tracing"] == "Active"
    for fid in FUNCTIONS:
        props = resources[fid]["Properties"]
        assert props.get("Runtime", glob["Runtime"]) == "python3.13"
        assert props["Timeout"] <= 900


def test_reconcilers_reserve_no_concurrency_unless_asked(template, resources):
    """A new account has 10 concurrent executions and Lambda keeps 10 unreserved, so any reservation fails its
    first deploy; portico is correct with reconcilers overlapping (tests/faults/test_processes.py), so it reserves
    none by default. The parameter reserves the same number for each reconciler."""
    param = template["Parameters"]["ReservedConcurrency"]
    assert param["Type"] == "Number" and param["Default"] == 0 and param["MinValue"] == 0
    assert template["Conditions"]["ReserveConcurrency"] == {"Fn::Not": [{"Fn::Equals": [
        {"Ref": "ReservedConcurrency"}, "0"]}]}
    for fid in (*RECONCILERS, "ServiceRouteProviderFunction"):
        assert resources[fid]["Properties"]["ReservedConcurrentExecutions"] == {"Fn::If": [
            "ReserveConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}


def test_stream_event_source_mapping_has_every_setting(resources):
    mappings = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert len(mappings) == 1
    m = mappings[0]
    assert refs(m["FunctionName"]) == {"RegistryStreamFunction"}
    assert m["EventSourceArn"] == {"Fn::GetAtt": ["RegistryTable", "StreamArn"]}
    assert m["StartingPosition"] == "TRIM_HORIZON"
    assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert m["BisectBatchOnFunctionError"] is True
    assert 0 <= m["MaximumRetryAttempts"] <= 10, "finite retries"
    assert 60 <= m["MaximumRecordAgeInSeconds"] <= 21600, "finite record age"
    assert m["ParallelizationFactor"] == 1
    destination = m["DestinationConfig"]["OnFailure"]["Destination"]
    queue = resources[refs(destination).pop()]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"].get("SqsManagedSseEnabled") is True or queue["Properties"].get("KmsMasterKeyId")
    # The stream function has no SAM stream event (it would add a broad managed policy to the role).
    assert not any(e["Type"] == "DynamoDB" for e in resources["RegistryStreamFunction"]["Properties"]
                   .get("Events", {}).values())


def test_sweeper_runs_on_the_schedule_parameter(resources):
    events = resources["SweeperFunction"]["Properties"]["Events"]
    schedules = [e["Properties"] for e in events.values() if e["Type"] in ("Schedule", "ScheduleV2")]
    assert len(schedules) == 1 and schedules[0]["Schedule"] == {"Ref": "SweeperSchedule"}


def test_alarms_cover_errors_throttles_iterator_age_queue_depth_and_5xx(resources):
    alarms = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::CloudWatch::Alarm"]
    seen = {(a["Namespace"], a["MetricName"], next(iter(refs(a["Dimensions"])), None)) for a in alarms}
    for fid in FUNCTIONS:
        assert ("AWS/Lambda", "Errors", fid) in seen
    for fid in RECONCILERS:
        assert ("AWS/Lambda", "Throttles", fid) in seen
    assert ("AWS/Lambda", "IteratorAge", "RegistryStreamFunction") in seen
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "FailureQueue") in seen
    assert any(ns == "AWS/ApiGateway" and metric == "5XXError" for ns, metric, _ in seen)
    for a in alarms:
        assert a["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    sub = resources["AlarmEmailSubscription"]
    assert sub["Condition"] == "HasAlarmEmail" and sub["Properties"]["Protocol"] == "email"


def test_outputs_and_exports(template):
    outputs = template["Outputs"]
    for name in ("RegistryTableName", "StateTableName", "RestApiId", "InvokeUrl", "LoadBalancerArn",
                 "LoadBalancerDnsName", "VpcLinkId", "LoadBalancerArns", "VpcLinkIds", "VpcLinkV2Id",
                 "ServiceToken"):
        assert name in outputs and outputs[name].get("Description"), name
    assert refs(outputs["ServiceToken"]["Value"]) == {"ServiceRouteProviderFunction"}
    exported = {name for name, o in outputs.items() if "Export" in o}
    assert {"ServiceToken", "RegistryTableName", "RestApiId", "LoadBalancerArn", "VpcLinkId",
            "VpcLinkV2Id"} <= exported


# ------------------------------------------------------------------ IAM, least privilege

# Actions without resource-level permissions: "*" is allowed for these only, with a comment saying so.
NO_RESOURCE_LEVEL = {
    "elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTargetHealth", "ecs:DescribeTaskDefinition", "ec2:DescribeSecurityGroups",
    "dynamodb:ListStreams", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
}


def all_statements(resources: dict):
    for name, res in resources.items():
        if res["Type"] == "AWS::IAM::ManagedPolicy":
            for s in statements(res["Properties"]["PolicyDocument"]):
                yield name, s
        if res["Type"] == "AWS::IAM::Role" and name != "ApiGatewayCloudWatchRole":
            for policy in res["Properties"].get("Policies", []):
                for s in statements(policy["PolicyDocument"]):
                    yield name, s


def test_one_role_per_function_without_aws_managed_policies(resources):
    roles = [resources[fid]["Properties"]["Role"]["Fn::GetAtt"][0] for fid in FUNCTIONS]
    assert len(set(roles)) == len(FUNCTIONS)
    for role in roles:
        for arn in resources[role]["Properties"].get("ManagedPolicyArns", []):
            arn = arn["Fn::If"][1] if "Fn::If" in arn else arn  # the ALB mode's policy
            assert "Ref" in arn, f"{role}: only this template's policies, no AWS managed ones"
    for fid in FUNCTIONS:
        assert "Policies" not in resources[fid]["Properties"], f"{fid}: policies belong on its role"


def test_no_wildcard_actions(resources):
    for where, s in all_statements(resources):
        for action in as_list(s["Action"]):
            assert "*" not in action, f"{where} {s.get('Sid')}: {action}"


def test_star_resource_only_where_the_service_has_no_resource_level_permissions(resources):
    raw = TEMPLATE.read_text()
    for where, s in all_statements(resources):
        if s["Effect"] == "Allow" and "*" in as_list(s["Resource"]):
            assert set(as_list(s["Action"])) <= NO_RESOURCE_LEVEL, f"{where} {s['Sid']}"
            # Each statement's text, from its Sid to the next statement, must carry a "# ..." line.
            for match in re.finditer(rf"- Sid: {s['Sid']}\n", raw):
                end = raw.find("- Sid:", match.end())
                block = raw[match.start():end if end > 0 else len(raw)]
                if 'Resource: "*"' in block:
                    assert re.search(r"^\s+# \S", block, re.M), f"{where} {s['Sid']}: say why '*' in a comment"


GROWTH = "LoadBalancerGrowthPolicy"  # the load balancers portico adds to the pool (kinds/load_balancer.py)


def statements_with(resources: dict, action: str):
    return [(w, s) for w, s in all_statements(resources) if s["Effect"] == "Allow" and action in as_list(s["Action"])]


@pytest.mark.parametrize("action", ["elasticloadbalancing:CreateTargetGroup", "elasticloadbalancing:CreateListener"])
def test_elb_create_requires_portico_tags_on_the_request(resources, action):
    found = statements_with(resources, action)
    assert found
    for where, s in found:
        cond = s["Condition"]["StringEquals"]
        assert cond["aws:RequestTag/portico:stack"] == {"Ref": "AWS::StackName"}, (where, s["Sid"])


@pytest.mark.parametrize("action", ["elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:DeleteTargetGroup",
                                    "elasticloadbalancing:ModifyListener", "elasticloadbalancing:DeleteListener"])
def test_elb_modify_delete_require_portico_tag_on_the_resource(resources, action):
    found = statements_with(resources, action)
    assert found
    for where, s in found:
        assert s["Condition"]["StringEquals"]["aws:ResourceTag/portico:stack"] == {"Ref": "AWS::StackName"}, where


def test_elb_add_tags_only_on_create_or_on_owned_objects(resources):
    for where, s in statements_with(resources, "elasticloadbalancing:AddTags"):
        cond = s["Condition"]["StringEquals"]
        assert "elasticloadbalancing:CreateAction" in cond or "aws:ResourceTag/portico:stack" in cond, (where, s["Sid"])


@pytest.mark.parametrize("action", ["elasticloadbalancing:CreateListener", "elasticloadbalancing:ModifyListener",
                                    "elasticloadbalancing:DeleteListener", "elasticloadbalancing:AddTags"])
def test_listener_actions_are_pinned_to_the_nlb_pool(resources, action):
    """Every Resource entry of a listener statement names one NLB of the pool (directly or inside Fn::If);
    that the whole pool is covered, for every LoadBalancerCount, is test_pool.py's."""
    pool = pool_nlbs(resources)
    found = statements_with(resources, action)
    assert found
    for where, s in found:
        if where == GROWTH:
            continue  # the load balancers portico adds, by their tag: test_pool.py
        for resource in as_list(s["Resource"]):
            if action == "elasticloadbalancing:AddTags" and (":targetgroup/" in text_of(resource)
                                                             or ":listener-rule/" in text_of(resource)):
                continue  # target groups: any name; rules: test_rule_actions_are_pinned_to_the_alb
            named = refs(resource) - {"AWS::NoValue", "AWS::Partition", "AWS::Region", "AWS::AccountId"}
            assert len(named) == 1 and named <= pool, (where, s["Sid"], resource)


@pytest.mark.parametrize("action", ["elasticloadbalancing:CreateRule", "elasticloadbalancing:ModifyRule",
                                    "elasticloadbalancing:SetRulePriorities", "elasticloadbalancing:DeleteRule"])
def test_rule_actions_are_pinned_to_the_alb_and_its_listener(resources, action):
    """ALB mode: rule statements name only the ALB's listener or its rules (listener-rule/<the ALB>/*), are in
    the policy that exists only with Backend=alb, and carry portico's tag conditions."""
    found = statements_with(resources, action)
    assert found and {where for where, _ in found} == {"AlbRulesPolicy"}
    assert resources["AlbRulesPolicy"]["Condition"] == "UseAlb"
    for where, s in [(w, s) for w, s in found if not s["Sid"].startswith("Pool")]:  # Pool*: by tag, test_pool.py
        for resource in as_list(s["Resource"]):
            text = text_of(resource)
            assert refs(resource) == {"AlbListener"} or ("listener-rule/${Alb.LoadBalancerFullName}/*" in text), \
                (where, s["Sid"], resource)
        cond = s["Condition"]["StringEquals"]
        key = "aws:RequestTag/portico:stack" if action == "elasticloadbalancing:CreateRule" else \
            "aws:ResourceTag/portico:stack"
        assert cond[key] == {"Ref": "AWS::StackName"}, (where, s["Sid"])


def test_alb_mode_is_one_internal_alb_with_a_404_listener(resources, template):
    alb, listener = resources["Alb"], resources["AlbListener"]
    assert alb["Condition"] == listener["Condition"] == "UseAlb"
    assert (alb["Properties"]["Type"], alb["Properties"]["Scheme"]) == ("application", "internal")
    assert refs(alb["Properties"]["SecurityGroups"]) == {"AlbSecurityGroup"}
    attrs = {a["Key"]: a["Value"] for a in alb["Properties"]["LoadBalancerAttributes"]}
    assert attrs["deletion_protection.enabled"] == {"Ref": "DeletionProtection"}
    assert (listener["Properties"]["Protocol"], listener["Properties"]["Port"]) == ("HTTP", 80)
    [default] = listener["Properties"]["DefaultActions"]
    assert default["Type"] == "fixed-response" and default["FixedResponseConfig"]["StatusCode"] == "404"
    ingress = resources["AlbIngressFromVpcLink"]["Properties"]
    assert refs(ingress["SourceSecurityGroupId"]) == {"VpcLinkSecurityGroup"} and ingress["FromPort"] == 80
    assert template["Parameters"]["Backend"]["Default"] == "nlb"
    assert "AlbNeedsVpcLinkV2" in template["Rules"]


def test_api_gateway_actions_are_pinned_to_this_api_and_its_plans(resources):
    """... and the account setting (GET/PATCH /account), for Custom::ApiGatewayAccount's function only."""
    for where, s in all_statements(resources):
        if any(a.startswith("apigateway:") for a in as_list(s["Action"])):
            if text_of(s["Resource"]).endswith("::/account'}"):
                assert where == "ApiGatewayAccountRole" and set(as_list(s["Action"])) == {
                    "apigateway:GET", "apigateway:PATCH"}, (where, s["Sid"])
                continue
            for resource in as_list(s["Resource"]):
                assert refs(resource) & {"RestApi", "BasicUsagePlan", "PremiumUsagePlan"}, (where, s["Sid"], resource)
                assert "::/restapis/${RestApi}" in text_of(resource) or "::/usageplans/" in text_of(resource)


def test_ecs_update_service_is_pinned_to_the_given_clusters(resources):
    found = statements_with(resources, "ecs:UpdateService")
    assert found
    for where, s in found:
        assert "ClusterNames" in refs(s["Condition"]), (where, s["Sid"])
        assert ":service/" in text_of(s["Resource"])


def test_dynamodb_actions_are_pinned_to_the_two_tables_and_the_stream(resources):
    for where, s in all_statements(resources):
        actions = [a for a in as_list(s["Action"]) if a.startswith("dynamodb:")]
        if actions and actions != ["dynamodb:ListStreams"]:
            assert refs(s["Resource"]) <= {"RegistryTable", "StateTable"} and refs(s["Resource"]), (where, s["Sid"])


def test_each_function_gets_only_what_it_needs(resources):
    def allowed(fid: str) -> set[tuple[str, str]]:
        return {(a, r) for s in role_statements(resources, fid) if s["Effect"] == "Allow"
                for a in as_list(s["Action"]) for r in (refs(s["Resource"]) or {"*"})}

    stream, sweeper, provider = (allowed(f) for f in
                                 ("RegistryStreamFunction", "SweeperFunction", "ServiceRouteProviderFunction"))
    assert ("dynamodb:GetRecords", "RegistryTable") in stream
    assert ("dynamodb:GetRecords", "RegistryTable") not in sweeper | provider
    # Only the custom resource writes or removes registry entries; the reconcilers write status only.
    for action in ("dynamodb:PutItem", "dynamodb:DeleteItem"):
        assert (action, "RegistryTable") in provider
        assert (action, "RegistryTable") not in stream | sweeper
    for fid in FUNCTIONS:
        log_group = resources[fid]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert ("logs:PutLogEvents", log_group) in allowed(fid)


def test_a_fresh_account_deploys_and_an_existing_account_role_is_never_replaced(template, resources):
    """Stages with access logging need the account's CloudWatch role. The default (auto) checks the account
    and sets this stack's role only where none is set; true replaces it (AWS::ApiGateway::Account); false
    leaves the account alone. Every stage waits for whichever applies."""
    param = template["Parameters"]["ConfigureApiGatewayAccount"]
    assert param["Default"] == "auto" and param["AllowedValues"] == ["auto", "true", "false"]
    check = resources["ApiGatewayAccountCheck"]
    assert check["Type"] == "Custom::ApiGatewayAccount" and check["Condition"] == "CheckApiGatewayAccount"
    assert check["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["ApiGatewayAccountFunction", "Arn"]}
    assert refs(check["Properties"]["CloudWatchRoleArn"]) == {"ApiGatewayCloudWatchRole"}
    assert resources["ApiGatewayAccount"]["Condition"] == "DoConfigureApiGatewayAccount"
    role = resources["ApiGatewayCloudWatchRole"]
    assert role["Condition"] == "HasApiGatewayCloudWatchRole"
    assert role["DeletionPolicy"] == role["UpdateReplacePolicy"] == "Retain"
    ready = refs(resources["ApiGatewayAccountReady"]["Metadata"])
    assert {"ApiGatewayAccount", "ApiGatewayAccountCheck"} <= ready
    for name, res in resources.items():
        if res["Type"] == "AWS::ApiGateway::Stage":
            assert "ApiGatewayAccountReady" in as_list(res["DependsOn"]), name
    function = resources["ApiGatewayAccountFunction"]
    assert function["Condition"] == "CheckApiGatewayAccount" and "ReservedConcurrentExecutions" not in function
    passes = [s for s in role_statements(resources, "ApiGatewayAccountFunction")
              if "iam:PassRole" in as_list(s["Action"])]
    assert len(passes) == 1 and refs(passes[0]["Resource"]) == {"ApiGatewayCloudWatchRole"}
    assert passes[0]["Condition"]["StringEquals"]["iam:PassedToService"] == "apigateway.amazonaws.com"


def test_tables_are_kept_on_delete_but_not_left_by_a_failed_first_deploy(resources):
    for name in ("RegistryTable", "StateTable"):
        assert resources[name]["DeletionPolicy"] == "RetainExceptOnCreate", name
        assert resources[name]["UpdateReplacePolicy"] == "Retain", name


def test_cognito_entries_have_the_authorizer_portico_looks_for(resources):
    """portico attaches auth COGNITO methods to the API's COGNITO_USER_POOLS authorizer; the stack makes it
    exactly when a user pool is given."""
    (auth,) = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Authorizer"]
    props = auth["Properties"]
    assert auth["Condition"] == "HasCognito" and props["Type"] == "COGNITO_USER_POOLS"
    assert props["ProviderARNs"] == [{"Ref": "CognitoUserPoolArn"}] and props["RestApiId"] == {"Ref": "RestApi"}
    assert props["IdentitySource"] == "method.request.header.Authorization"


@pytest.mark.parametrize("version", ["v1", "v2", "v1+v2"])
def test_every_stage_is_deleted_before_every_vpc_link_it_may_route_through(template, resources, version):
    """AWS refuses to delete a VPC link a stage's deployment references; CloudFormation deletes what does not
    depend on each other in parallel. So each stage depends (through VpcLinksReady) on every link that exists."""
    stack = Deployed(template, VpcLinkVersion=version, LoadBalancerCount="4")
    links = set(stack.of_type("AWS::ApiGateway::VpcLink") + stack.of_type("AWS::ApiGatewayV2::VpcLink"))
    named = {}  # link -> the condition under which the handle names it: the link's own
    for value in resources["VpcLinksReady"]["Metadata"].values():
        condition, ref, _ = value["Fn::If"]
        named[ref["Ref"]] = condition
    assert links and links <= set(named)
    assert all(named[link] == resources[link]["Condition"] for link in named)
    for name in stack.of_type("AWS::ApiGateway::Stage"):
        assert "VpcLinksReady" in as_list(resources[name]["DependsOn"]), name
