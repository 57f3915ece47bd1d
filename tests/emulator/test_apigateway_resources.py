"""The local AWS keeps API Gateway's resource tree rules, as AWS does (unpatched moto breaks each): a second child
of one name under one parent is a 409 ConflictException, a child under a missing parent a 404, and deleting a
resource deletes its children."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from portico_cli.local_aws import account as local


def test_resource_tree_rules(aws):
    gw = boto3.client("apigateway", endpoint_url=aws, region_name=local.REGION)
    api = gw.create_rest_api(name="shared")["id"]
    root = gw.get_resources(restApiId=api)["items"][0]["id"]
    team = gw.create_resource(restApiId=api, parentId=root, pathPart="team")["id"]
    with pytest.raises(ClientError) as err:
        gw.create_resource(restApiId=api, parentId=root, pathPart="team")
    assert err.value.response["Error"]["Code"] == "ConflictException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert "Another resource with the same parent already has this name: team" in str(err.value)
    orders = gw.create_resource(restApiId=api, parentId=team, pathPart="orders")["id"]
    gw.create_resource(restApiId=api, parentId=orders, pathPart="{proxy+}")
    gw.delete_resource(restApiId=api, resourceId=team)
    assert [r["path"] for r in gw.get_resources(restApiId=api)["items"]] == ["/"]
    with pytest.raises(ClientError) as err:
        gw.create_resource(restApiId=api, parentId=team, pathPart="users")
    assert err.value.response["Error"]["Code"] == "NotFoundException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
