"""Change sets on the emulator's stack path (emulator/changeset.py, stack_update.py), through boto3 as SAM CLI
calls them: a TemplateURL on 127.0.0.1, CREATE as CreateStack (custom resources answered), UPDATE in
dependency order with a custom resource's Update (OldResourceProperties) and, on a new physical id, the old
one's Delete in the cleanup, an update that fails rolled back (UPDATE_ROLLBACK_COMPLETE: what the update made
before the failure deleted, the old resources kept), the SAM transform at CreateChangeSet, and SAM CLI's
managed bucket stack."""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError

from portico_cli.local_aws import account as local

BUCKET = "artifacts"
# The custom resources' function: logs each request to S3, answers with a physical id made of the Name
# property (a new Name: a new resource), FAILED for Name "fail".
HANDLER = '''
import json, os, time, urllib.request, boto3
def handler(event, context):
    props = event["ResourceProperties"]
    boto3.client("s3").put_object(Bucket="artifacts", Key=f"log/{time.time_ns()}",
                                  Body=json.dumps({k: v for k, v in event.items() if k != "ResponseURL"}))
    failed = props.get("Name") == "fail" and event["RequestType"] != "Delete"
    answer = {"Status": "FAILED" if failed else "SUCCESS", "Reason": "Name fail refused",
              "PhysicalResourceId": event.get("PhysicalResourceId") if event["RequestType"] == "Delete"
              else f"thing-{props['Name']}", "StackId": event["StackId"], "RequestId": event["RequestId"],
              "LogicalResourceId": event["LogicalResourceId"], "Data": {"Seen": props["Name"]}}
    urllib.request.urlopen(urllib.request.Request(event["ResponseURL"], data=json.dumps(answer).encode(),
                                                  method="PUT"))
'''


def template(name: str, other: str, version: str = "1") -> str:
    thing = {"ServiceToken": {"Fn::GetAtt": ["Fn", "Arn"]}, "Name": name}
    trust = {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole"}]}
    return json.dumps({"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": trust}},
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "python3.11", "Handler": "index.handler", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
            "Timeout": 30, "Code": {"S3Bucket": BUCKET, "S3Key": "fn.zip"}}},
        "Other": {"Type": "Custom::Thing", "Properties": {**thing, "Name": other, "Version": version}},
        "Thing": {"Type": "Custom::Thing", "DependsOn": "Other", "Properties": thing}},
        "Outputs": {"Seen": {"Value": {"Fn::GetAtt": ["Thing", "Seen"]}}}})


@pytest.fixture
def aws_clients(aws):
    kw = {"endpoint_url": aws, "region_name": local.REGION}
    s3, cfn = boto3.client("s3", **kw), boto3.client("cloudformation", **kw)
    s3.create_bucket(Bucket=BUCKET)
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as z:
        z.writestr("index.py", HANDLER)
    s3.put_object(Bucket=BUCKET, Key="fn.zip", Body=package.getvalue())
    return aws, s3, cfn


def run(cfn, s3, endpoint: str, body: str, kind: str, name: str = "cs") -> dict:
    s3.put_object(Bucket=BUCKET, Key=f"{name}.json", Body=body.encode())
    cfn.create_change_set(StackName="things", ChangeSetName=name, ChangeSetType=kind,
                          TemplateURL=f"{endpoint}/{BUCKET}/{name}.json", Capabilities=["CAPABILITY_IAM"])
    cfn.execute_change_set(ChangeSetName=name, StackName="things")  # settled when it answers
    return cfn.describe_stacks(StackName="things")["Stacks"][0]


def requests_seen(s3) -> list[tuple[str, str, str, str | None]]:
    """(logical id, request type, Name, the old Name) of every request, in order."""
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="log/").get("Contents", []))
    events = [json.loads(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in keys]
    return [(e["LogicalResourceId"], e["RequestType"], e["ResourceProperties"]["Name"],
             (e.get("OldResourceProperties") or {}).get("Name")) for e in events]


def test_create_then_update_sends_update_and_deletes_the_replaced_resource(aws_clients):
    endpoint, s3, cfn = aws_clients
    created = run(cfn, s3, endpoint, template("a", "x"), "CREATE", "one")
    assert created["StackStatus"] == "CREATE_COMPLETE" and created["Outputs"][0]["OutputValue"] == "a"
    updated = run(cfn, s3, endpoint, template("b", "x"), "UPDATE", "two")
    assert updated["StackStatus"] == "UPDATE_COMPLETE" and updated["Outputs"][0]["OutputValue"] == "b"
    seen = requests_seen(s3)
    assert seen == [("Other", "Create", "x", None), ("Thing", "Create", "a", None),
                    ("Thing", "Update", "b", "a"),  # Other unchanged: no request
                    ("Thing", "Delete", "a", None)]  # a new physical id: the old one deleted in the cleanup
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                for r in cfn.describe_stack_resources(StackName="things")["StackResources"]}
    assert physical["Thing"] == "thing-b"
    statuses = [e["ResourceStatus"] for e in cfn.describe_stack_events(StackName="things")["StackEvents"]
                if e["LogicalResourceId"] == "things"]
    assert statuses[:3] == ["UPDATE_COMPLETE", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_IN_PROGRESS"]


def test_an_update_that_fails_rolls_back_what_it_had_updated(aws_clients):
    endpoint, s3, cfn = aws_clients
    run(cfn, s3, endpoint, template("a", "x"), "CREATE", "one")
    failed = run(cfn, s3, endpoint, template("fail", "y"), "UPDATE", "two")
    assert failed["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE" and failed["Outputs"][0]["OutputValue"] == "a"
    # Other's update answered a new physical id (a replacement): the rollback deletes that one, the old stays
    assert requests_seen(s3)[2:] == [("Other", "Update", "y", "x"), ("Thing", "Update", "fail", "a"),
                                     ("Other", "Delete", "y", None)]
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                for r in cfn.describe_stack_resources(StackName="things")["StackResources"]}
    assert (physical["Other"], physical["Thing"]) == ("thing-x", "thing-a")
    reasons = [e.get("ResourceStatusReason", "") for e in cfn.describe_stack_events(StackName="things")["StackEvents"]
               if e["LogicalResourceId"] == "Thing" and e["ResourceStatus"] == "UPDATE_FAILED"]
    assert reasons and "Name fail refused" in reasons[0]
    again = run(cfn, s3, endpoint, template("c", "x"), "UPDATE", "three")  # the stack can be updated again
    assert again["StackStatus"] == "UPDATE_COMPLETE" and again["Outputs"][0]["OutputValue"] == "c"


def test_a_resource_updated_in_place_is_updated_back_by_the_rollback(aws_clients):
    endpoint, s3, cfn = aws_clients
    run(cfn, s3, endpoint, template("a", "x"), "CREATE", "one")
    failed = run(cfn, s3, endpoint, template("fail", "x", version="2"), "UPDATE", "two")
    assert failed["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="log/")["Contents"])
    events = [json.loads(s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()) for k in keys][2:]
    assert [(e["LogicalResourceId"], e["RequestType"], e["ResourceProperties"]["Version"],
             e["OldResourceProperties"]["Version"]) for e in events if e["LogicalResourceId"] == "Other"] == [
        ("Other", "Update", "2", "1"), ("Other", "Update", "1", "2")]  # same physical id: updated back


def test_a_change_set_lists_the_resources_a_parameter_change_modifies(aws_clients):
    endpoint, s3, cfn = aws_clients
    body = json.dumps({"Parameters": {"Name": {"Type": "String"}}, "Resources": {
        "Q": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Ref": "Name"}}},
        "T": {"Type": "AWS::SNS::Topic"}}})
    cfn.create_change_set(StackName="p", ChangeSetName="one", ChangeSetType="CREATE", TemplateBody=body,
                          Parameters=[{"ParameterKey": "Name", "ParameterValue": "a"}])
    cfn.execute_change_set(ChangeSetName="one", StackName="p")
    cfn.create_change_set(StackName="p", ChangeSetName="two", ChangeSetType="UPDATE", TemplateBody=body,
                          Parameters=[{"ParameterKey": "Name", "ParameterValue": "b"}])
    changes = cfn.describe_change_set(ChangeSetName="two", StackName="p")["Changes"]
    assert [(c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"]) for c in changes] == [
        ("Modify", "Q")]


def test_a_change_set_with_nothing_to_change_fails_and_a_bad_parameter_is_refused_at_creation(aws_clients):
    endpoint, s3, cfn = aws_clients
    run(cfn, s3, endpoint, template("a", "x"), "CREATE", "one")
    cfn.create_change_set(StackName="things", ChangeSetName="same", ChangeSetType="UPDATE",
                          TemplateURL=f"{endpoint}/{BUCKET}/one.json")
    same = cfn.describe_change_set(ChangeSetName="same", StackName="things")
    assert (same["Status"], same["ExecutionStatus"]) == ("FAILED", "UNAVAILABLE")
    body = json.dumps({"Parameters": {"Size": {"Type": "String", "AllowedValues": ["s", "m"]}},
                       "Resources": {"Q": {"Type": "AWS::SQS::Queue"}}})
    with pytest.raises(ClientError) as refused:
        cfn.create_change_set(StackName="sized", ChangeSetName="cs", ChangeSetType="CREATE", TemplateBody=body,
                              Parameters=[{"ParameterKey": "Size", "ParameterValue": "xl"}])
    assert refused.value.response["Error"]["Message"] == "Parameter 'Size' must be one of AllowedValues"
    with pytest.raises(ClientError) as exists:
        cfn.create_change_set(StackName="things", ChangeSetName="again", ChangeSetType="CREATE",
                              TemplateURL=f"{endpoint}/{BUCKET}/one.json")
    assert exists.value.response["Error"]["Message"] == (
        "Stack [things] already exists and cannot be created again with the changeSet [again].")
    assert [s["StackName"] for s in cfn.describe_stacks()["Stacks"]] == ["things"]


def test_the_sam_transform_runs_at_create_change_set(aws_clients):
    endpoint, s3, cfn = aws_clients
    body = json.dumps({"Transform": "AWS::Serverless-2016-10-31", "Resources": {"Fn": {
        "Type": "AWS::Serverless::Function", "Properties": {
            "Runtime": "python3.11", "Handler": "index.handler", "CodeUri": f"s3://{BUCKET}/fn.zip"}}}})
    stack = run(cfn, s3, endpoint, body, "CREATE", "sam")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    types = {r["LogicalResourceId"]: r["ResourceType"]
             for r in cfn.describe_stack_resources(StackName="things")["StackResources"]}
    assert types == {"Fn": "AWS::Lambda::Function", "FnRole": "AWS::IAM::Role"}
    broken = json.dumps({"Transform": "AWS::Serverless-2016-10-31", "Resources": {"Fn": {
        "Type": "AWS::Serverless::Function", "Properties": {"Runtime": "python3.11", "Handler": "i.h",
                                                            "CodeUri": "not-on-s3"}}}})
    with pytest.raises(ClientError) as refused:
        cfn.create_change_set(StackName="broken", ChangeSetName="cs", ChangeSetType="CREATE", TemplateBody=broken)
    assert "Transform AWS::Serverless-2016-10-31 failed with: Invalid Serverless Application Specification " \
           "document." in refused.value.response["Error"]["Message"]


def test_sam_clis_managed_bucket_stack_is_made_and_its_bucket_takes_uploads(aws_clients):
    endpoint, s3, cfn = aws_clients
    deny_plain_http = {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
                       "Resource": [{"Fn::Sub": "arn:aws:s3:::${B}"}, {"Fn::Sub": "arn:aws:s3:::${B}/*"}],
                       "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    body = json.dumps({"Resources": {
        "B": {"Type": "AWS::S3::Bucket"},
        "P": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": {"Ref": "B"}, "PolicyDocument": {"Statement": [deny_plain_http]}}}},
        "Outputs": {"SourceBucket": {"Value": {"Ref": "B"}}}})
    stack = run(cfn, s3, endpoint, body, "CREATE", "managed")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    bucket = stack["Outputs"][0]["OutputValue"]
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Effect"] == "Deny"
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")  # the Deny's condition key is absent: it does not apply
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
