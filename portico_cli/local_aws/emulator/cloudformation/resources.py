"""CloudFormation's resource handlers for the types moto lacks, or whose moto handler gets them wrong: each is
made through its service's own API, as CloudFormation's handlers do (HANDLERS; models.py makes them resource
types).

AWS::ApiGateway::Stage (missing; access logs need the account's CloudWatch role: "CloudWatch Logs role ARN
must be set in account settings to enable logging"), ::Method (moto's fails on a MOCK integration without
IntegrationHttpMethod), ::VpcLink, ::UsagePlan, AWS::ApiGatewayV2::VpcLink (missing; Ref is its VpcLinkId),
::Authorizer, ::Account, AWS::CloudWatch::Alarm, AWS::SQS::QueuePolicy, AWS::SNS::Subscription,
AWS::EC2::SecurityGroupEgress (missing), AWS::CloudFormation::WaitConditionHandle (moto makes none: not a
stack resource), AWS::S3::BucketPolicy (SAM CLI's managed stack, aws-sam-cli-managed-default, holds one beside
its bucket; made through PutBucketPolicy); AWS::ElasticLoadBalancingV2::LoadBalancer (moto makes every one an
ALB and drops attributes and tags); AWS::Lambda::Function (moto drops Layers, DeadLetterConfig, TracingConfig,
Tags); AWS::DynamoDB::Table (moto reads DeletionProtectionEnabled "false", a string, as true).
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import uuid
from typing import Any


class ResourceFailure(Exception):
    """A resource CloudFormation could not create: the reason goes into the stack's events."""


def clients(service: str):
    from ..awslambda import endpoint

    return _client(service, endpoint())


_MAKING = threading.Lock()  # a botocore session is not safe to make clients from on two threads at once


@functools.lru_cache(maxsize=64)
def _client(service: str, url: str):  # boto3 clients are thread-safe, and slow to make
    with _MAKING:
        return _session().client(service, endpoint_url=url)


@functools.cache
def _session():
    """One session for every handler's client: a new session loads botocore's endpoint and partition data again
    (about 0.3 s a client, most of a first stack deploy's handler time when each client had its own)."""
    from ...account import session

    return session("")


def api_error(exc: Exception) -> ResourceFailure:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        err = exc.response["Error"]
        return ResourceFailure(f"{err.get('Message')} (Service: {exc.operation_name}; "
                               f"Status Code: {exc.response['ResponseMetadata'].get('HTTPStatusCode')}; "
                               f"Error Code: {err.get('Code')})")
    return ResourceFailure(str(exc))


def _tags(props: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: str(t["Value"]) for t in props.get("Tags") or []}


def as_int(value: Any) -> int:
    return int(float(value))


def as_bool(value: Any) -> bool:
    """CloudFormation passes booleans of parameters as strings ("false")."""
    return str(value).lower() == "true"


def _table_create(p, name):
    kwargs: dict[str, Any] = {k: p[k] for k in ("AttributeDefinitions", "KeySchema", "BillingMode",
                                                 "GlobalSecondaryIndexes", "ProvisionedThroughput") if k in p}
    if "StreamSpecification" in p:
        kwargs["StreamSpecification"] = {"StreamEnabled": True, **p["StreamSpecification"]}
    if "SSESpecification" in p:
        kwargs["SSESpecification"] = {"Enabled": as_bool(p["SSESpecification"].get("SSEEnabled")),
                                      **({"SSEType": p["SSESpecification"]["SSEType"]}
                                         if "SSEType" in p["SSESpecification"] else {})}
    ddb = clients("dynamodb")
    table = ddb.create_table(TableName=p.get("TableName", name), Tags=p.get("Tags") or [],
                             DeletionProtectionEnabled=as_bool(p.get("DeletionProtectionEnabled")),
                             **kwargs)["TableDescription"]
    if "TimeToLiveSpecification" in p:
        ttl = p["TimeToLiveSpecification"]
        ddb.update_time_to_live(TableName=table["TableName"], TimeToLiveSpecification={
            "AttributeName": ttl["AttributeName"], "Enabled": as_bool(ttl.get("Enabled"))})
    return table["TableName"], {"Arn": table["TableArn"], "StreamArn": table.get("LatestStreamArn", "")}


def _stage_create(p, name):
    apigw = clients("apigateway")
    if p.get("AccessLogSetting") and not apigw.get_account().get("cloudwatchRoleArn"):
        raise ResourceFailure("CloudWatch Logs role ARN must be set in account settings to enable logging "
                              "(Service: AmazonApiGateway; Status Code: 400; Error Code: BadRequestException)")
    apigw.create_stage(restApiId=p["RestApiId"], stageName=p["StageName"], deploymentId=p["DeploymentId"],
                       description=p.get("Description", ""), tracingEnabled=as_bool(p.get("TracingEnabled")),
                       variables=p.get("Variables") or {}, tags=_tags(p))
    ops = stage_settings(p)
    if ops:
        apigw.update_stage(restApiId=p["RestApiId"], stageName=p["StageName"], patchOperations=ops)
    return p["StageName"], {}


def stage_settings(p) -> list[dict[str, str]]:
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
    clients("apigateway").delete_stage(restApiId=p["RestApiId"], stageName=physical)


def _method_create(p, name):
    apigw = clients("apigateway")
    api, resource, verb = p["RestApiId"], p["ResourceId"], p["HttpMethod"]
    apigw.put_method(restApiId=api, resourceId=resource, httpMethod=verb, authorizationType=p.get(
                     "AuthorizationType", "NONE"), apiKeyRequired=as_bool(p.get("ApiKeyRequired")),
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
    clients("apigateway").delete_method(restApiId=p["RestApiId"], resourceId=p["ResourceId"],
                                         httpMethod=p["HttpMethod"])


def _vpc_link_create(p, name):
    link = clients("apigateway").create_vpc_link(name=p["Name"], description=p.get("Description", ""),
                                                  targetArns=p["TargetArns"], tags=_tags(p))
    return link["id"], {"VpcLinkId": link["id"]}


def _vpc_link_v2_create(p, name):
    link = clients("apigatewayv2").create_vpc_link(Name=p["Name"], SubnetIds=p["SubnetIds"],
                                                    SecurityGroupIds=p.get("SecurityGroupIds") or [],
                                                    Tags=p.get("Tags") or {})
    return link["VpcLinkId"], {"VpcLinkId": link["VpcLinkId"]}


def _usage_plan_create(p, name):
    kwargs: dict[str, Any] = {"name": p.get("UsagePlanName", name), "description": p.get("Description", ""),
                              "apiStages": [{"apiId": s["ApiId"], "stage": s["Stage"]} for s in p.get("ApiStages", [])],
                              "tags": _tags(p)}
    if "Throttle" in p:
        kwargs["throttle"] = {"rateLimit": float(p["Throttle"]["RateLimit"]),
                              "burstLimit": as_int(p["Throttle"]["BurstLimit"])}
    if "Quota" in p:
        kwargs["quota"] = {"limit": as_int(p["Quota"]["Limit"]), "period": p["Quota"]["Period"]}
    plan = clients("apigateway").create_usage_plan(**kwargs)
    return plan["id"], {"Id": plan["id"]}


def _authorizer_create(p, name):
    auth = clients("apigateway").create_authorizer(
        restApiId=p["RestApiId"], name=p["Name"], type=p["Type"], providerARNs=p.get("ProviderARNs", []),
        identitySource=p.get("IdentitySource", ""))
    return auth["id"], {"AuthorizerId": auth["id"]}


def _account_create(p, name):
    clients("apigateway").update_account(patchOperations=[
        {"op": "replace", "path": "/cloudwatchRoleArn", "value": p.get("CloudWatchRoleArn", "")}])
    return name, {"Id": name}


def _alarm_create(p, name):
    alarm = p.get("AlarmName", name)
    kwargs = {k: p[k] for k in ("AlarmDescription", "Namespace", "MetricName", "Dimensions", "Statistic",
                                "ComparisonOperator", "TreatMissingData", "AlarmActions", "OKActions") if k in p}
    clients("cloudwatch").put_metric_alarm(AlarmName=alarm, Period=as_int(p["Period"]),
                                            EvaluationPeriods=as_int(p["EvaluationPeriods"]),
                                            Threshold=float(p["Threshold"]), **kwargs)
    return alarm, {"Arn": f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}"}


def _queue_policy_create(p, name):
    for url in p["Queues"]:
        clients("sqs").set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(p["PolicyDocument"])})
    return name, {}


def _subscription_create(p, name):
    arn = clients("sns").subscribe(TopicArn=p["TopicArn"], Protocol=p["Protocol"], Endpoint=p["Endpoint"],
                                    ReturnSubscriptionArn=True)["SubscriptionArn"]
    return arn, {}


def egress_permission(p) -> dict:
    permission = {"IpProtocol": str(p["IpProtocol"]), "FromPort": as_int(p["FromPort"]), "ToPort": as_int(p["ToPort"])}
    if p.get("DestinationSecurityGroupId"):
        permission["UserIdGroupPairs"] = [{"GroupId": p["DestinationSecurityGroupId"], "Description": p.get(
            "Description", "")}]
    else:
        permission["IpRanges"] = [{"CidrIp": p["CidrIp"], "Description": p.get("Description", "")}]
    return permission


def _egress_create(p, name):
    rule = clients("ec2").authorize_security_group_egress(GroupId=p["GroupId"], IpPermissions=[
        egress_permission(p)])["SecurityGroupRules"][0]
    return rule["SecurityGroupRuleId"], {}


def _egress_delete(physical, p):
    clients("ec2").revoke_security_group_egress(GroupId=p["GroupId"], IpPermissions=[egress_permission(p)])


def _load_balancer_create(p, name):
    elbv2 = clients("elbv2")
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
    lam = clients("lambda")
    kwargs = {k: p[k] for k in ("Runtime", "Handler", "Description", "Environment", "Layers", "DeadLetterConfig",
                                "TracingConfig", "Architectures") if k in p}
    code = {k: p["Code"][k] for k in ("S3Bucket", "S3Key", "ZipFile") if k in p["Code"]}
    fn = lam.create_function(FunctionName=p.get("FunctionName", name), Role=p["Role"], Code=code,
                             Timeout=as_int(p.get("Timeout", 3)), MemorySize=as_int(p.get("MemorySize", 128)),
                             Tags=_tags(p), **kwargs)
    if "ReservedConcurrentExecutions" in p:
        lam.put_function_concurrency(FunctionName=fn["FunctionName"],
                                     ReservedConcurrentExecutions=as_int(p["ReservedConcurrentExecutions"]))
    return fn["FunctionName"], {"Arn": fn["FunctionArn"]}


def _wait_handle_create(p, name):
    # A real handle is a pre-signed URL that cfn-signal posts to; nothing here signals, the URL only has to be one.
    return f"https://cloudformation-waitcondition-us-east-1.s3.amazonaws.com/{uuid.uuid4()}", {}


def _bucket_policy_create(p, name):
    clients("s3").put_bucket_policy(Bucket=p["Bucket"], Policy=json.dumps(p["PolicyDocument"]))
    # Its physical id is generated (STACK-LOGICALID-SUFFIX); nothing refers to it.
    return f"{name}-{hashlib.sha256(p['Bucket'].encode()).hexdigest()[:12].upper()}", {}


def _delete_with(service: str, method: str, key: str):
    def delete(physical, p):
        getattr(clients(service), method)(**{key: physical})
    return delete


def _keep(physical, p):
    pass


HANDLERS = {
    "AWS::ApiGateway::Stage": (_stage_create, _stage_delete),
    "AWS::ApiGateway::Method": (_method_create, _method_delete),
    "AWS::ApiGateway::VpcLink": (_vpc_link_create, _delete_with("apigateway", "delete_vpc_link", "vpcLinkId")),
    "AWS::ApiGatewayV2::VpcLink": (_vpc_link_v2_create, _delete_with("apigatewayv2", "delete_vpc_link", "VpcLinkId")),
    "AWS::ApiGateway::UsagePlan": (_usage_plan_create, _delete_with("apigateway", "delete_usage_plan", "usagePlanId")),
    "AWS::ApiGateway::Authorizer": (_authorizer_create, lambda physical, p: clients("apigateway").delete_authorizer(
        restApiId=p["RestApiId"], authorizerId=physical)),
    "AWS::ApiGateway::Account": (_account_create, _keep),  # the setting stays (AWS: the role stays usable)
    "AWS::CloudWatch::Alarm": (_alarm_create, lambda physical, p: clients("cloudwatch").delete_alarms(
        AlarmNames=[physical])),
    "AWS::SQS::QueuePolicy": (_queue_policy_create, lambda physical, p: [clients("sqs").set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": ""}) for url in p["Queues"]]),
    "AWS::EC2::SecurityGroupEgress": (_egress_create, _egress_delete),
    "AWS::SNS::Subscription": (_subscription_create, _delete_with("sns", "unsubscribe", "SubscriptionArn")),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": (_load_balancer_create, _delete_with(
        "elbv2", "delete_load_balancer", "LoadBalancerArn")),
    "AWS::CloudFormation::WaitConditionHandle": (_wait_handle_create, _keep),
    "AWS::DynamoDB::Table": (_table_create, _delete_with("dynamodb", "delete_table", "TableName")),
    "AWS::Lambda::Function": (_function_create, _delete_with("lambda", "delete_function", "FunctionName")),
    "AWS::S3::BucketPolicy": (_bucket_policy_create, lambda physical, p: clients("s3").delete_bucket_policy(
        Bucket=p["Bucket"])),
}
