"""The emulator's snapshot and restore (moto-api): template.yaml deployed once, the same stack again after any
change, as often as asked, through real boto3 over HTTP."""

from __future__ import annotations

import requests

from portico_cli.local_aws import stack as local_stack
from portico_cli.local_aws.account import session
from portico_cli.local_aws.emulator.snapshot import RESTORE_URL, SNAPSHOT_URL


def _post(endpoint: str, url: str, name: str = "snapshot-test") -> requests.Response:
    return requests.post(f"{endpoint}{url}", params={"name": name}, timeout=60)


def test_a_restore_brings_the_deployed_stack_back_after_any_change(aws, tmp_path):
    settings = local_stack.deploy(aws, cache=tmp_path)
    s = session(aws)
    ddb, elbv2, cfn, sqs, s3 = (s.client(n, endpoint_url=aws)
                                for n in ("dynamodb", "elbv2", "cloudformation", "sqs", "s3"))
    saved = _post(aws, SNAPSHOT_URL)
    assert saved.status_code == 200 and saved.json()["services"] >= 10, saved.text
    for _ in range(2):  # the snapshot is not used up by a restore
        ddb.put_item(TableName=settings.registry_table, Item={"service": {"S": "orders"}})
        elbv2.delete_load_balancer(LoadBalancerArn=settings.load_balancer_arns[0])
        cfn.delete_stack(StackName=local_stack.STACK)  # CloudFormation's models hold locks: shared, not copied
        s3.create_bucket(Bucket="made-after-the-snapshot")
        assert not [st for st in cfn.describe_stacks()["Stacks"] if st["StackStatus"] == "CREATE_COMPLETE"]

        restored = _post(aws, RESTORE_URL)
        assert restored.status_code == 200, restored.text
        assert ddb.scan(TableName=settings.registry_table)["Count"] == 0
        assert [lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]] == \
            list(settings.load_balancer_arns)
        assert cfn.describe_stacks(StackName=local_stack.STACK)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
        assert local_stack.settings(aws) == settings  # outputs and the functions' environment, as deployed
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [local_stack.BUCKET]  # objects readable:
        assert s3.list_objects_v2(Bucket=local_stack.BUCKET)["KeyCount"] >= 4 and s3.get_object(
            Bucket=local_stack.BUCKET, Key=s3.list_objects_v2(Bucket=local_stack.BUCKET)["Contents"][0]["Key"]
        )["Body"].read()
    queue = cfn.describe_stack_resources(StackName=local_stack.STACK, LogicalResourceId="FailureQueue")
    url = sqs.get_queue_url(QueueName=queue["StackResources"][0]["PhysicalResourceId"].rsplit("/", 1)[-1])
    sqs.send_message(QueueUrl=url["QueueUrl"], MessageBody="after a restore")  # SQS's lock works in the copy
    assert sqs.receive_message(QueueUrl=url["QueueUrl"])["Messages"][0]["Body"] == "after a restore"


def test_a_restore_without_its_snapshot_is_refused(aws):
    refused = _post(aws, RESTORE_URL, name="never-taken")
    assert refused.status_code == 409 and "no snapshot 'never-taken'" in refused.json()["message"]
    assert requests.post(f"{aws}{RESTORE_URL}", timeout=10).status_code == 400  # no name
