"""CloudFormation: what moto's stacks lack or get wrong that template.yaml meets, made as AWS does.

- TemplateBody over 51,200 bytes is refused (ValidationError); larger templates go through S3 (TemplateURL)
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).
- Number parameters: moto hands them to intrinsic functions as numbers, so `!Equals [!Ref Count, "1"]` is
  false for 1; in AWS "when you use the parameter elsewhere in your template (for example, by using the Ref
  intrinsic function), the parameter value becomes a string" (parameters-section-structure.html).
- Parameter values are checked against AllowedValues, AllowedPattern, MinValue and MaxValue, refused with
  CloudFormation's message (moto checks none).
- `AWS::NoValue` in a list (`!If [cond, x, !Ref AWS::NoValue]`) removes the item; moto leaves a None.
- Dependencies: moto orders creation by DependsOn only (and creates a referenced resource on first use);
  CloudFormation also waits for every resource a Ref, Fn::GetAtt or Fn::Sub names, Metadata included. A
  cycle is refused ("Circular dependency between resources").
- A resource type moto does not know is skipped silently by moto; here it fails the template
  ("Unrecognized resource types"), so a gap cannot pass unseen.
- Types moto lacks, or whose moto handler gets them wrong, are made through the service's own API, as
  CloudFormation's resource handlers do (HANDLERS):
  AWS::ApiGateway::Stage (missing; access logs need the account's CloudWatch role: "CloudWatch Logs role ARN
  must be set in account settings to enable logging"), ::Method (moto's fails on a MOCK integration without
  IntegrationHttpMethod), ::VpcLink, ::UsagePlan, AWS::ApiGatewayV2::VpcLink (missing; Ref is its
  VpcLinkId), ::Authorizer, ::Account, AWS::CloudWatch::Alarm,
  AWS::SQS::QueuePolicy, AWS::SNS::Subscription, AWS::EC2::SecurityGroupEgress (missing; and an
  AWS::EC2::SecurityGroup's SecurityGroupEgress, which moto ignores, replaces the default allow-all egress),
  AWS::CloudFormation::WaitConditionHandle (moto makes
  none: not a stack resource); AWS::ElasticLoadBalancingV2::LoadBalancer (moto
  makes every one an ALB and drops attributes and tags); AWS::Lambda::Function (moto drops Layers,
  DeadLetterConfig, TracingConfig, Tags); AWS::DynamoDB::Table (moto reads DeletionProtectionEnabled
  "false", a string, as true).
- An output whose Condition is false exports nothing (moto evaluates it, and fails on the missing resource).
- Ref of an AWS::Lambda::LayerVersion is its ARN, of an AWS::ApiGateway::Deployment its id (moto hands on
  its model object).
- Custom resources: the request goes to the ServiceToken function (run by awslambda.py) with a ResponseURL
  on this emulator; the resource is created when the answer arrives, with the physical id and Data it names,
  and fails the stack on FAILED (moto ignores FAILED and never waits). A stack delete or rollback sends the
  function a Delete request with the physical id and waits for it too (moto sends none).
- A stack whose creation fails rolls back (ROLLBACK_COMPLETE): every resource it created is deleted except
  `DeletionPolicy: Retain`, so `RetainExceptOnCreate` resources go too; moto leaves a half-made stack. On a
  stack delete `RetainExceptOnCreate` keeps the resource, like Retain (moto deletes it). A delete takes a
  resource after everything that depends on it and otherwise the earliest made first (CloudFormation deletes
  independent resources in parallel, so a dependency the template does not declare must break here too); a
  failed delete is not retried: the resource and the stack are DELETE_FAILED, the stack stays, and deleting
  it again retries. A REST API (with its
  resources, methods, deployments), a managed policy and a layer version are deleted with their stack (moto
  has no delete for them).
"""

from __future__ import annotations

import functools
import graphlib
import json
import re
import uuid
from typing import Any

from . import add, replace, require, route, wrap

TEMPLATE_BODY_MAX_BYTES = 51_200
KEEP_ON_DELETE = ("Retain", "RetainExceptOnCreate")
KEEP_ON_ROLLBACK = ("Retain",)


class ResourceFailure(Exception):
    """A resource CloudFormation could not create: the reason goes into the stack's events."""


def _clients(service: str):
    from .awslambda import endpoint

    return _client(service, endpoint())


@functools.lru_cache(maxsize=64)
def _client(service: str, url: str):  # boto3 clients are thread-safe, and slow to make
    from ..account import session

    return session(url).client(service, endpoint_url=url)


def _api_error(exc: Exception) -> ResourceFailure:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        err = exc.response["Error"]
        return ResourceFailure(f"{err.get('Message')} (Service: {exc.operation_name}; "
                               f"Status Code: {exc.response['ResponseMetadata'].get('HTTPStatusCode')}; "
                               f"Error Code: {err.get('Code')})")
    return ResourceFailure(str(exc))


def _tags(props: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: str(t["Value"]) for t in props.get("Tags") or []}


def _int(value: Any) -> int:
    return int(float(value))


# ------------------------------------------------------------------ resource handlers (through the APIs)
# Each: create(props, name) -> (physical id, attributes); delete(physical id, props).


def _bool(value: Any) -> bool:
    """CloudFormation passes booleans of parameters as strings ("false")."""
    return str(value).lower() == "true"


def _table_create(p, name):
    kwargs: dict[str, Any] = {k: p[k] for k in ("AttributeDefinitions", "KeySchema", "BillingMode",
                                                 "GlobalSecondaryIndexes", "ProvisionedThroughput") if k in p}
    if "StreamSpecification" in p:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **p["StreamSpecification"]}
    if "SSESpecification" in p:
        kwargs["SSESpecification"] = {"Enabled": _bool(p["SSESpecification"].get("SSEEnabled")),
                                      **({"SSEType": p["SSESpecification"]["SSEType"]}
                                         if "SSEType" in p["SSESpecification"] else {})}
    ddb = _clients("dynamodb")
    table = ddb.create_table(TableName=p.get("TableName", name), Tags=p.get("Tags") or [],
                             DeletionProtectionEnabled=_bool(p.get("DeletionProtectionEnabled")),
                             **kwargs)["TableDescription"]
    if "TimeToLiveSpecification" in p:
        ttl = p["TimeToLiveSpecification"]
        ddb.update_time_to_live(TableName=table["TableName"], TimeToLiveSpecification={
            "AttributeName": ttl["AttributeName"], "Enabled": _bool(ttl.get("Enabled"))})
    return table["TableName"], {"Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn", "")}


def _stage_create(p, name):
    apigw = _clients("apigateway")
    if p.get("AccessLogSetting") and not apigw.get_account().get("cloudwatchRoleArn"):
        raise ResourceFailure("CloudWatch Logs role ARN must be set in account settings to enable logging "
                              "(Service: AmazonApiGateway; Status Code: 400; Error Code: BadRequestException)")
    apigw.create_stage(restApiId=p["RestApiId"], stageName=p["StageName"], deploymentId=p["DeploymentId"],
                       description=p.get("Description", ""), tracingEnabled=_bool(p.get("TracingEnabled")),
                       variables=p.get("Variables") or {}, tags=_tags(p))
    ops = _stage_settings(p)
    if ops:
        apigw.update_stage(restApiId=p["RestApiId"], stageName=p["StageName"], patchOperations=ops)
    return p["StageName"], {}


def _stage_settings(p) -> list[dict[str, str]]:
    """UpdateStage's patch operations that give a stage the template's access log and method settings."""
    ops = []
    if p.get("AccessLogSetting"):
        log = p["AccessLogSetting"]
        ops += [{"op": "replace", "path": "/accessLogSettings/destinationArn", "value": log["DestinationArn"]},
                {"op": "replace", "path": "/accessLogSettings/format", "value": log.get("Format", "")}]
    for ms in p.get("MethodSettings") or []:
        # ResourcePath "/~1a~1b" (documented as encoded, "/" for the root, "/*" for every resource) -> key "~1a~1b"
        where = ms["ResourcePath"]
        base = f"/{'*' if where == '/*' else where.lstrip('/').replace('/', '~1') or '~1'}/{ms['HttpMethod']}"
        for key, path in (("MetricsEnabled", "metrics/enabled"), ("DataTraceEnabled", "logging/dataTrace"),
                          ("ThrottlingRateLimit", "throttling/rateLimit"),
                          ("ThrottlingBurstLimit", "throttling/burstLimit")):
            if key in ms:
                ops.append({"op": "replace", "path": f"{base}/{path}", "value": str(ms[key]).lower()})
    return ops


def _stage_delete(physical, p):
    _clients("apigateway").delete_stage(restApiId=p["RestApiId"], stageName=physical)


def _method_create(p, name):
    apigw = _clients("apigateway")
    api, resource, verb = p["RestApiId"], p["ResourceId"], p["HttpMethod"]
    apigw.put_method(restApiId=api, resourceId=resource, httpMethod=verb, authorizationType=p.get(
                     "AuthorizationType", "NONE"), apiKeyRequired=_bool(p.get("ApiKeyRequired")),
                     **({"authorizerId": p["AuthorizerId"]} if p.get("AuthorizerId") else {}))
    for response in p.get("MethodResponses") or []:
        apigw.put_method_response(restApiId=api, resourceId=resource, httpMethod=verb,
                                  statusCode=str(response["StatusCode"]))
    integration = p.get("Integration")
    if integration:
        keys = {"Type": "type", "IntegrationHttpMethod": "integrationHttpMethod", "Uri": "uri",
                "RequestTemplates": "requestTemplates", "ConnectionType": "connectionType",
                "ConnectionId": "connectionId", "RequestParameters": "requestParameters"}
        apigw.put_integration(restApiId=api, resourceId=resource, httpMethod=verb,
                              **{keys[k]: v for k, v in integration.items() if k in keys})
        for response in integration.get("IntegrationResponses") or []:
            apigw.put_integration_response(restApiId=api, resourceId=resource, httpMethod=verb,
                                           statusCode=str(response["StatusCode"]),
                                           responseTemplates=response.get("ResponseTemplates") or {})
    return f"{resource}-{verb}", {}


def _method_delete(physical, p):
    _clients("apigateway").delete_method(restApiId=p["RestApiId"], resourceId=p["ResourceId"],
                                         httpMethod=p["HttpMethod"])


def _vpc_link_create(p, name):
    link = _clients("apigateway").create_vpc_link(name=p["Name"], description=p.get("Description", ""),
                                                  targetArns=p["TargetArns"], tags=_tags(p))
    return link["id"], {"VpcLinkId": link["id"]}


def _vpc_link_v2_create(p, name):
    link = _clients("apigatewayv2").create_vpc_link(Name=p["Name"], SubnetIds=p["SubnetIds"],
                                                    SecurityGroupIds=p.get("SecurityGroupIds") or [],
                                                    Tags=p.get("Tags") or {})
    return link["VpcLinkId"], {"VpcLinkId": link["VpcLinkId"]}


def _usage_plan_create(p, name):
    kwargs: dict[str, Any] = {"name": p.get("UsagePlanName", name), "description": p.get("Description", ""),
                              "apiStages": [{"apiId": s["ApiId"], "stage": s["Stage"]} for s in p.get("ApiStages", [])],
                              "tags": _tags(p)}
    if "Throttle" in p:
        kwargs["throttle"] = {"rateLimit": float(p["Throttle"]["RateLimit"]),
                              "burstLimit": _int(p["Throttle"]["BurstLimit"])}
    if "Quota" in p:
        kwargs["quota"] = {"limit": _int(p["Quota"]["Limit"]), "period": p["Quota"]["Period"]}
    plan = _clients("apigateway").create_usage_plan(**kwargs)
    return plan["id"], {"Id": plan["id"]}


def _authorizer_create(p, name):
    auth = _clients("apigateway").create_authorizer(
        restApiId=p["RestApiId"], name=p["Name"], type=p["Type"], providerARNs=p.get("ProviderARNs", []),
        identitySource=p.get("IdentitySource", ""))
    return auth["id"], {"AuthorizerId": auth["id"]}


def _account_create(p, name):
    _clients("apigateway").update_account(patchOperations=[
        {"op": "replace", "path": "/cloudwatchRoleArn", "value": p.get("CloudWatchRoleArn", "")}])
    return name, {"Id": name}


def _alarm_create(p, name):
    alarm = p.get("AlarmName", name)
    kwargs = {k: p[k] for k in ("AlarmDescription", "Namespace", "MetricName", "Dimensions", "Statistic",
                                "ComparisonOperator", "TreatMissingData", "AlarmActions", "OKActions") if k in p}
    _clients("cloudwatch").put_metric_alarm(AlarmName=alarm, Period=_int(p["Period"]),
                                            EvaluationPeriods=_int(p["EvaluationPeriods"]),
                                            Threshold=float(p["Threshold"]), **kwargs)
    return alarm, {"Arn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}"}


def _queue_policy_create(p, name):
    for url in p["Queues"]:
        _clients("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(p["PolicyDocument"])})
    return name, {}


def _subscription_create(p, name):
    arn = _clients("sns").subscribe(TopicArn=p["TopicArn"], Protocol=p["Protocol"], Endpoint=p["Endpoint"],
                                    ReturnSubscriptionArn=True)["SubscriptionArn"]
    return arn, {}


def _egress_permission(p) -> dict:
    permission = {"IpProtocol": str(p["IpProtocol"]), "FromPort": _int(p["FromPort"]), "ToPort": _int(p["ToPort"])}
    if p.get("DestinationSecurityGroupId"):
        permission["UserIdGroupPairs"] = [{"GroupId": p["DestinationSecurityGroupId"], "Description": p.get(
            "Description", "")}]
    else:
        permission["IpRanges"] = [{"CidrIp": p["CidrIp"], "Description": p.get("Description", "")}]
    return permission


def _group_egress(create):  # SecurityGroup.create_from_cloudformation_json
    """A group whose SecurityGroupEgress lists rules has those rules only: "when you specify a VPC security
    group, Amazon EC2 creates a default egress rule that allows egress traffic on all ports and IP protocols
    to any location. The default rule is removed only when you specify one or more egress rules"
    (aws-resource-ec2-securitygroup.html). moto ignores the property and keeps allow-all."""

    def wrapper(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        group = create.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        rules = cloudformation_json["Properties"].get("SecurityGroupEgress") or []
        if rules:
            ec2 = _clients("ec2")
            ec2.revoke_security_group_egress(GroupId=group.id, IpPermissions=[
                {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
            ec2.authorize_security_group_egress(GroupId=group.id, IpPermissions=[_egress_permission(r) for r in rules])
        return group

    return classmethod(wrapper)


def _egress_create(p, name):
    rule = _clients("ec2").authorize_security_group_egress(GroupId=p["GroupId"], IpPermissions=[
        _egress_permission(p)])["SecurityGroupRules"][0]
    return rule["SecurityGroupRuleId"], {}


def _egress_delete(physical, p):
    _clients("ec2").revoke_security_group_egress(GroupId=p["GroupId"], IpPermissions=[_egress_permission(p)])


def _load_balancer_create(p, name):
    elbv2 = _clients("elbv2")
    kwargs = {k: p[k] for k in ("Subnets", "SecurityGroups", "Scheme", "Type", "IpAddressType") if k in p}
    lb = elbv2.create_load_balancer(Name=p.get("Name", name), Tags=p.get("Tags") or [], **kwargs)["LoadBalancers"][0]
    attributes = [{"Key": a["Key"], "Value": str(a["Value"])} for a in p.get("LoadBalancerAttributes") or []]
    if attributes:
        elbv2.modify_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"], Attributes=attributes)
    arn = lb["LoadBalancerArn"]
    return arn, {"DNSName": lb["DNSName"], "LoadBalancerName": lb["LoadBalancerName"], "LoadBalancerArn": arn,
                 "LoadBalancerFullName": arn.split(":loadbalancer/", 1)[1],
                 "CanonicalHostedZoneID": lb.get("CanonicalHostedZoneId", "")}


def _function_create(p, name):
    lam = _clients("lambda")
    kwargs = {k: p[k] for k in ("Runtime", "Handler", "Description", "Environment", "Layers", "DeadLetterConfig",
                                "TracingConfig", "Architectures") if k in p}
    code = {k: p["Code"][k] for k in ("S3Bucket", "S3Key", "ZipFile") if k in p["Code"]}
    fn = lam.create_function(FunctionName=p.get("FunctionName", name), Role=p["Role"], Code=code,
                             Timeout=_int(p.get("Timeout", 3)), MemorySize=_int(p.get("MemorySize", 128)),
                             Tags=_tags(p), **kwargs)
    if "ReservedConcurrentExecutions" in p:
        lam.put_function_concurrency(FunctionName=fn["FunctionName"],
                                     ReservedConcurrentExecutions=_int(p["ReservedConcurrentExecutions"]))
    return fn["FunctionName"], {"Arn": fn["FunctionArn"]}


def _wait_handle_create(p, name):
    # A real handle is a pre-signed URL that cfn-signal posts to; nothing here signals, the URL only has to be one.
    return f"https://cloudformation-waitcondition-us-east-1.s3.amazonaws.com/{uuid.uuid4()}", {}


def _delete_with(service: str, method: str, key: str):
    def delete(physical, p):
        getattr(_clients(service), method)(**{key: physical})
    return delete


def _keep(physical, p):
    pass


HANDLERS = {
    "AWS::ApiGateway::Stage": (_stage_create, _stage_delete),
    "AWS::ApiGateway::Method": (_method_create, _method_delete),
    "AWS::ApiGateway::VpcLink": (_vpc_link_create, _delete_with("apigateway", "delete_vpc_link", "vpcLinkId")),
    "AWS::ApiGatewayV2::VpcLink": (_vpc_link_v2_create, _delete_with("apigatewayv2", "delete_vpc_link", "VpcLinkId")),
    "AWS::ApiGateway::UsagePlan": (_usage_plan_create, _delete_with("apigateway", "delete_usage_plan", "usagePlanId")),
    "AWS::ApiGateway::Authorizer": (_authorizer_create, lambda physical, p: _clients("apigateway").delete_authorizer(
        restApiId=p["RestApiId"], authorizerId=physical)),
    "AWS::ApiGateway::Account": (_account_create, _keep),  # the setting stays (AWS: the role stays usable)
    "AWS::CloudWatch::Alarm": (_alarm_create, lambda physical, p: _clients("cloudwatch").delete_alarms(
        AlarmNames=[physical])),
    "AWS::SQS::QueuePolicy": (_queue_policy_create, lambda physical, p: [_clients("sqs").set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": ""}) for url in p["Queues"]]),
    "AWS::EC2::SecurityGroupEgress": (_egress_create, _egress_delete),
    "AWS::SNS::Subscription": (_subscription_create, _delete_with("sns", "unsubscribe", "SubscriptionArn")),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": (_load_balancer_create, _delete_with(
        "elbv2", "delete_load_balancer", "LoadBalancerArn")),
    "AWS::CloudFormation::WaitConditionHandle": (_wait_handle_create, _keep),
    "AWS::DynamoDB::Table": (_table_create, _delete_with("dynamodb", "delete_table", "TableName")),
    "AWS::Lambda::Function": (_function_create, _delete_with("lambda", "delete_function", "FunctionName")),
}


class _ApiResource:
    """A CloudFormation resource made through its service's API (mixed into a CloudFormationModel)."""

    def __init__(self, physical: str, attributes: dict[str, Any], properties: dict[str, Any]):
        self.physical_resource_id, self.attributes, self.properties = physical, attributes, properties

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        props = cloudformation_json.get("Properties") or {}
        try:
            physical, attributes = HANDLERS[cls.cloudformation_type()][0](props, resource_name)
        except ResourceFailure:
            raise
        except Exception as exc:  # noqa: BLE001 - the service's refusal is the resource's failure reason
            raise _api_error(exc) from exc
        return cls(physical, attributes, props)

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return True

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.attributes:
            from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

            raise UnformattedGetAttTemplateException()
        return self.attributes[attribute_name]

    def delete(self, account_id: str, region_name: str) -> None:
        HANDLERS[self.cloudformation_type()][1](self.physical_resource_id, self.properties)


def _api_models() -> list[type]:
    from moto.core.common_models import CloudFormationModel

    return [type(f"Api{kind.replace('::', '')}", (_ApiResource, CloudFormationModel),
                 {"cloudformation_type": staticmethod(lambda kind=kind: kind),
                  "cloudformation_name_type": staticmethod(lambda: "")})
            for kind in HANDLERS]


API_MODELS: list[type] = []


# ------------------------------------------------------------------ template semantics


def _as_text(value: Any) -> Any:
    """A Number parameter's value as CloudFormation hands it on: the string the user gave ('1', not 1)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, str) else str(value)


def check_parameter(name: str, spec: dict[str, Any], value: Any) -> str | None:
    """Why CloudFormation refuses `value` for parameter `name`, in its words, or None. With a
    ConstraintDescription: "Parameter X failed to satisfy constraint: <it>"
    (https://github.com/aws-ia/taskcat/issues/627); else "Parameter 'X' must be one of AllowedValues"
    (https://github.com/aws-amplify/amplify-cli/issues/6224), "... must match pattern P", "... must be a number"."""
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) and (
        spec.get("Type") == "CommaDelimitedList" or spec.get("Type", "").startswith("List<")) else [value]
    for item in items:
        text = _as_text(item) if isinstance(item, int | float) else str(item)
        if "AllowedValues" in spec and text not in [_as_text(v) if isinstance(v, int | float) else str(v)
                                                    for v in spec["AllowedValues"]]:
            problem = f"Parameter '{name}' must be one of AllowedValues"
        elif "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], text):
            problem = f"Parameter '{name}' must match pattern {spec['AllowedPattern']}"
        elif spec.get("Type") in ("Number", "List<Number>"):
            try:
                number = float(text)
            except ValueError:
                problem = f"Parameter '{name}' must be a number."
            else:
                problem = (f"Parameter '{name}' must be a number not less than {spec['MinValue']}"
                           if "MinValue" in spec and number < float(spec["MinValue"]) else
                           f"Parameter '{name}' must be a number not greater than {spec['MaxValue']}"
                           if "MaxValue" in spec and number > float(spec["MaxValue"]) else None)
        else:
            problem = None
        if problem:
            return f"Parameter {name} failed to satisfy constraint: {spec['ConstraintDescription']}" \
                if spec.get("ConstraintDescription") else problem
    return None


def _load_parameters(load):
    def wrapper(self):
        from moto.cloudformation.exceptions import ValidationError

        load(self)
        for name, spec in (self._template.get("Parameters") or {}).items():
            value = self.resolved_parameters.get(name)
            given = self.input_parameters.get(name, spec.get("Default"))
            problem = check_parameter(name, spec, given) if given is not None else None
            if problem:
                raise ValidationError(message=problem)
            if spec.get("Type") == "Number":
                self.resolved_parameters[name] = _as_text(value)
            elif spec.get("Type") == "List<Number>":
                self.resolved_parameters[name] = [_as_text(v) for v in value]
        self._parsed_resources.update(self.resolved_parameters)

    return wrapper


def _drop_no_value(clean_json):
    def wrapper(resource_json, resources_map):
        out = clean_json(resource_json, resources_map)
        if isinstance(resource_json, list) and isinstance(out, list):
            return [v for v in out if v is not None]
        return out

    return wrapper


def _known_types_only(resource_class_from_type):
    def wrapper(resource_type):
        from moto.cloudformation import parsing
        from moto.cloudformation.exceptions import ValidationError

        cls = resource_class_from_type(resource_type)
        if cls is None and resource_type not in parsing.NULL_MODELS:
            raise ValidationError(message=f"Template format error: Unrecognized resource types: [{resource_type}]")
        return cls

    return wrapper


def references(node: Any) -> set[str]:
    """Every logical id or parameter a Ref, Fn::GetAtt or Fn::Sub in `node` names."""
    out: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                out.add(value)
            elif key == "Fn::GetAtt":
                out.add(value[0] if isinstance(value, list) else str(value).split(".")[0])
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                out |= {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                if isinstance(value, list):
                    out |= references(value[1])
            else:
                out |= references(value)
    elif isinstance(node, list):
        for item in node:
            out |= references(item)
    return out


def _needs(resources: dict[str, Any]) -> dict[str, set[str]]:
    """What each resource waits for: DependsOn, and every resource a Ref, Fn::GetAtt or Fn::Sub names."""
    graph = {}
    for name, res in resources.items():
        depends = res.get("DependsOn", [])
        graph[name] = ({depends} if isinstance(depends, str) else set(depends)) | (references(res) & set(resources))
        graph[name].discard(name)
    return graph


def _dependency_order(self) -> list[str]:  # bound as ResourceMap's (name-mangled) dependency order
    from moto.cloudformation.exceptions import ValidationError

    try:
        return list(graphlib.TopologicalSorter(_needs(self._resource_json_map)).static_order())
    except graphlib.CycleError as exc:
        raise ValidationError(message="Circular dependency between resources: "
                                      f"[{', '.join(sorted(set(exc.args[1])))}]") from None


# ------------------------------------------------------------------ custom resources


def _custom_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    from urllib.parse import quote

    from moto.awslambda.utils import get_backend
    from moto.cloudformation import cloudformation_backends
    from moto.cloudformation.custom_model import CustomModel

    from .awslambda import endpoint

    props = cloudformation_json["Properties"]
    fn = get_backend(account_id, region_name).get_function(props["ServiceToken"])
    stack = cloudformation_backends[account_id][region_name].get_stack(kwargs["StackId"])
    custom = CustomModel(region_name, str(uuid.uuid4()), kwargs["LogicalId"], resource_name)
    stack.add_custom_resource(custom)
    url = endpoint()
    event = {"RequestType": "Create", "ServiceToken": props["ServiceToken"], "StackId": kwargs["StackId"],
             "ResponseURL": f"{url}/cloudformation_{region_name}/cfnresponse?stack={quote(kwargs['StackId'])}",
             "RequestId": custom.request_id, "LogicalResourceId": kwargs["LogicalId"],
             "ResourceType": kwargs["ResourceType"], "ResourceProperties": props}
    custom.portico_request = (fn, {k: v for k, v in event.items() if k not in ("RequestType", "RequestId")})
    answer = _ask(custom, fn, event, url)  # CloudFormation waits for the answer before what depends on it
    custom.resource_name = answer.get("PhysicalResourceId") or resource_name
    custom.set_data(answer.get("Data") or {})
    return custom


AWAITED: dict[str, Any] = {}  # request id -> the custom resource whose answer is awaited (its stack may be gone)


def _ask(custom, fn, event: dict[str, Any], url: str) -> dict[str, Any]:
    """Send one request to the custom resource's function and wait for the answer at its ResponseURL."""
    from .awslambda import run

    custom.answer = None
    AWAITED[event["RequestId"]] = custom
    try:
        run(fn, event, url)
    finally:
        AWAITED.pop(event["RequestId"], None)
    answer = custom.answer
    if answer is None:
        raise ResourceFailure("CloudFormation did not receive a response from your Custom Resource. Please check "
                              "your custom resource's CloudWatch logs.")
    if answer.get("Status") != "SUCCESS":
        raise ResourceFailure(f"Received response status [{answer.get('Status')}] from custom resource. Message "
                              f"returned: {answer.get('Reason')} (RequestId: {event['RequestId']})")
    return answer


def _custom_delete(self, account_id: str, region_name: str) -> None:  # bound as CustomModel.delete
    """A stack delete (or a rollback) sends the function a Delete request naming the physical id, and waits
    for its answer; FAILED fails the delete (moto sends nothing, so a provider's Delete never runs)."""
    from .awslambda import endpoint

    fn, base = self.portico_request
    self.request_id = str(uuid.uuid4())
    _ask(self, fn, {**base, "RequestType": "Delete", "RequestId": self.request_id,
                    "PhysicalResourceId": self.resource_name}, endpoint())


CFN_RESPONSE_ROUTE = "{0}/cloudformation_(?P<region>[^/]+)/cfnresponse$"


def _cfnresponse(request, full_url, headers):  # the route of a custom resource's ResponseURL
    body = json.loads(request.get_data() or b"{}")
    custom = AWAITED.get(body.get("RequestId", ""))
    if custom is not None:  # an answer nobody waits for (a stale request, a stack gone) is dropped, as AWS does
        custom.answer = body
    return 200, {}, ""


# ------------------------------------------------------------------ stack lifecycle


class DeleteFailed(Exception):
    """Some resources could not be deleted: the stack ends DELETE_FAILED (or ROLLBACK_FAILED) and stays."""


def _delete_resources(resource_map, keep: tuple[str, ...], stack=None) -> None:
    """Delete what the stack made, keeping resources whose DeletionPolicy is in `keep`; one event per resource
    (DELETE_COMPLETE, DELETE_SKIPPED or DELETE_FAILED) on `stack`, as CloudFormation reports them.

    CloudFormation deletes a resource only after everything that depends on it, and resources with no
    dependency between them in parallel: so here, among those free to go, the earliest created goes first
    (the order that a dependency the template forgot to declare breaks), a failure is not retried, and what
    the failed resource depends on stays ("DELETE_FAILED ... Resource could not be deleted"), as on AWS."""
    parsed, resources = resource_map._parsed_resources, resource_map._resource_json_map
    created = [name for name in parsed if name in resources and hasattr(parsed[name], "cf_resource_type")]
    pending = [name for name in created if resources[name].get("DeletionPolicy") not in keep]

    def event(name: str, status: str, reason: str | None = None) -> None:
        if stack is not None:
            from moto.cloudformation.models import Event

            stack.events.append(Event(stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=name,
                                      physical_resource_id=str(getattr(parsed.get(name), "physical_resource_id", "")),
                                      resource_type=resources[name]["Type"], resource_status=status,
                                      resource_status_reason=reason, resource_properties=None))

    for name in created:
        if name not in pending:
            event(name, "DELETE_SKIPPED")
    needs = {n: deps & set(pending) for n, deps in _needs({n: resources[n] for n in created}).items() if n in pending}
    order = graphlib.TopologicalSorter({n: {m for m in pending if n in needs[m]} for n in pending})
    order.prepare()
    ready: list[str] = []
    failed: dict[str, str] = {}
    while order.is_active():
        ready = sorted({*ready, *order.get_ready()}, key=created.index)
        if not ready:
            break  # what is left waits for a resource that failed
        name = ready.pop(0)
        try:
            resource_map._delete_resource(parsed[name], resources[name])
        except Exception as exc:  # noqa: BLE001 - reported on the resource, as CloudFormation does
            failed[name] = getattr(exc, "message", None) or str(exc)
            event(name, "DELETE_FAILED", failed[name])
            continue
        event(name, "DELETE_COMPLETE")
        parsed.pop(name, None)
        order.done(name)
    if failed:
        raise DeleteFailed("The following resource(s) failed to delete: [" + ", ".join(sorted(failed)) + "]. "
                           + " ".join(failed.values()))


def _tag_failure(parse_and_create):
    def wrapper(logical_id, *args, **kwargs):
        try:
            return parse_and_create(logical_id, *args, **kwargs)
        except Exception as exc:
            if not hasattr(exc, "portico_logical_id"):
                exc.portico_logical_id = logical_id
            raise

    return wrapper


def _create_or_roll_back(create_resources):
    def wrapper(self):
        from moto.cloudformation.exceptions import ValidationError
        from moto.cloudformation.models import Event

        try:
            return create_resources(self)
        except ValidationError:
            raise  # the template itself is refused: no stack operation starts
        except Exception as exc:  # noqa: BLE001 - any resource failure rolls the stack back
            logical = getattr(exc, "portico_logical_id", "?")
            reason = getattr(exc, "message", None) or str(exc)
            self.events.append(Event(stack_id=self.stack_id, stack_name=self.name, logical_resource_id=logical,
                                     physical_resource_id="", resource_type=self.template_dict["Resources"]
                                     .get(logical, {}).get("Type", ""), resource_status="CREATE_FAILED",
                                     resource_status_reason=reason, resource_properties=None))
            self.status = "ROLLBACK_IN_PROGRESS"
            self._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=(
                f"The following resource(s) failed to create: [{logical}]. Rollback requested by user."))
            try:
                _delete_resources(self.resource_map, KEEP_ON_ROLLBACK, self)
            except Exception as undo:  # noqa: BLE001 - what could not be deleted stays, as in AWS
                self.status = "ROLLBACK_FAILED"
                self._add_stack_event("ROLLBACK_FAILED", resource_status_reason=getattr(undo, "message", str(undo)))
                return
            self.status = "ROLLBACK_COMPLETE"
            self._add_stack_event("ROLLBACK_COMPLETE")

    return wrapper


def _create_stack(self, name, template, parameters, notification_arns=None, tags=None, role_arn=None,
                  enable_termination_protection=False, timeout_in_mins=None, stack_policy_body=None):
    """moto's CreateStack, with the resources made (in dependency order) before the outputs are read: moto
    reads the exports first, which makes every resource an output names at once, out of order."""
    from moto.cloudformation.exceptions import AlreadyExistsException
    from moto.cloudformation.models import Stack
    from moto.cloudformation.utils import generate_stack_id

    if name in [stack.name for stack in self.stacks.values()]:
        raise AlreadyExistsException(f"Stack {name} already exists")
    stack = Stack(stack_id=generate_stack_id(name, self.region_name, self.account_id), name=name, template=template,
                  parameters=parameters, account_id=self.account_id, region_name=self.region_name,
                  notification_arns=notification_arns, tags=tags, role_arn=role_arn,
                  cross_stack_resources=self.exports, enable_termination_protection=enable_termination_protection,
                  timeout_in_mins=timeout_in_mins, stack_policy_body=stack_policy_body)
    self.stacks[stack.stack_id] = stack
    stack._add_stack_event("CREATE_IN_PROGRESS", resource_status_reason="User Initiated")
    stack.create_resources()
    if stack.status == "CREATE_COMPLETE":
        self._validate_export_uniqueness(stack)
        for export in stack.exports:
            self.exports[export.name] = export
    return stack


SETTLED = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")


def _only_when_settled(prop, otherwise=None):
    """A stack's outputs exist once it is created; moto evaluates them anyway, making missing resources."""
    def getter(self):
        return prop.fget(self) if self.status in SETTLED else otherwise

    return property(getter)


def _exports(self):  # bound as OutputMap.exports: an output whose condition is false exports nothing
    from moto.cloudformation.parsing import Export, clean_json

    conditions = self._resource_map.lazy_condition_map
    return [Export(self._stack_id, clean_json(out["Export"].get("Name"), self._resource_map),
                   clean_json(out.get("Value"), self._resource_map))
            for out in (self._output_json_map or {}).values()
            if out.get("Export") and ("Condition" not in out or conditions[out["Condition"]])]


def _made_resources(self):  # bound as Stack.stack_resources: what exists, never made by being listed
    return [r for r in self.resource_map._parsed_resources.values() if hasattr(r, "cf_resource_type")]


def _delete_keeping(self) -> None:  # bound as Stack.delete
    self._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
    try:
        _delete_resources(self.resource_map, KEEP_ON_DELETE, self)
    except DeleteFailed as exc:
        self.status = "DELETE_FAILED"
        self._add_stack_event("DELETE_FAILED", resource_status_reason=str(exc))
        raise
    self._add_stack_event("DELETE_COMPLETE")
    self.status = "DELETE_COMPLETE"


def _delete_stack(delete_stack):  # CloudFormationBackend.delete_stack
    """A stack whose delete failed stays, DELETE_FAILED, with its exports; deleting it again retries."""

    def wrapper(self, name_or_stack_id: str) -> None:
        stack = self.stacks.get(name_or_stack_id) or next(
            (st for st in self.stacks.values() if st.name == name_or_stack_id), None)
        try:
            delete_stack(self, stack.stack_id if stack else name_or_stack_id)
        except DeleteFailed:
            self.stacks[stack.stack_id] = stack
            self.deleted_stacks.pop(stack.stack_id, None)

    return wrapper


def _bounded_body(action):
    def wrapper(self):
        from moto.cloudformation.exceptions import ValidationError

        body = self._get_param("TemplateBody")
        if body and len(body.encode()) > TEMPLATE_BODY_MAX_BYTES:
            raise ValidationError(message="1 validation error detected: Value at 'templateBody' failed to satisfy "
                                          f"constraint: Member must have length less than or equal to "
                                          f"{TEMPLATE_BODY_MAX_BYTES}")
        return action(self)

    return wrapper


def install() -> None:
    from moto.apigateway.models import Deployment, RestAPI
    from moto.awslambda.models import LayerVersion
    from moto.cloudformation import parsing
    from moto.cloudformation import urls as cfn_urls
    from moto.cloudformation.custom_model import CustomModel
    from moto.cloudformation.models import CloudFormationBackend, Stack
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.ec2.models.security_groups import SecurityGroup
    from moto.iam.models import ManagedPolicy

    require(parsing, "NULL_MODELS").remove("AWS::CloudFormation::WaitConditionHandle")  # a stack resource (HANDLERS)
    wrap(parsing, "clean_json", _drop_no_value)
    wrap(parsing, "resource_class_from_type", _known_types_only)
    wrap(parsing, "parse_and_create_resource", _tag_failure)
    wrap(parsing.ResourceMap, "load_parameters", _load_parameters)
    replace(parsing.ResourceMap, "_ResourceMap__get_resources_in_dependency_order", _dependency_order)
    replace(CustomModel, "create_from_cloudformation_json", classmethod(_custom_create))
    add(CustomModel, "delete", _custom_delete)
    wrap(SecurityGroup, "create_from_cloudformation_json", _group_egress)
    # A custom resource's answer to its ResponseURL: moto routes it to CloudFormationResponse.cfnresponse,
    # captured in url_paths at import (patching the class would change nothing).
    route(cfn_urls.url_paths, CFN_RESPONSE_ROUTE, _cfnresponse)
    for action in ("create_stack", "update_stack", "create_change_set", "validate_template"):
        wrap(CloudFormationResponse, action, _bounded_body)
    wrap(Stack, "create_resources", _create_or_roll_back)
    replace(CloudFormationBackend, "create_stack", _create_stack)
    replace(Stack, "delete", _delete_keeping)
    wrap(CloudFormationBackend, "delete_stack", _delete_stack)
    # Ref of a layer version is its ARN, of a deployment its id; moto's models have no physical id, so Ref
    # hands on the object.
    add(LayerVersion, "physical_resource_id", property(lambda self: self.arn))
    add(Deployment, "physical_resource_id", property(lambda self: self.id))
    # Deleted with their stack; moto's models have no delete and stay behind.
    add(RestAPI, "delete", lambda self, account, region: _clients("apigateway").delete_rest_api(restApiId=self.id))
    add(ManagedPolicy, "delete", lambda self, account, region: _clients("iam").delete_policy(PolicyArn=self.arn))
    add(LayerVersion, "delete", lambda self, account, region: _clients("lambda").delete_layer_version(
        LayerName=self.name, VersionNumber=self.version))
    wrap(Stack, "outputs", _only_when_settled)
    wrap(Stack, "exports", lambda original: _only_when_settled(original, []))
    replace(parsing.OutputMap, "exports", property(_exports))
    replace(Stack, "stack_resources", property(_made_resources))
    # Subclasses of CloudFormationModel defined after moto's take their types over (kept: __subclasses__ is weak).
    API_MODELS.extend(_api_models())
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
