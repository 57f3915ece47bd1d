"""Custom resources, as CloudFormation runs them: the request goes to the ServiceToken function (run by
awslambda.py) with a ResponseURL on this emulator; the resource is created when the answer arrives, with the
physical id and Data it names, and fails the stack on FAILED (moto ignores FAILED and never waits). A stack
delete or rollback sends the function a Delete request with the physical id and waits for it too (moto sends
none); stack_update.py sends Update.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from .. import add, replace, route
from .resources import ResourceFailure


def _custom_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    from urllib.parse import quote

    from moto.awslambda.utils import get_backend
    from moto.cloudformation import cloudformation_backends
    from moto.cloudformation.custom_model import CustomModel

    from ..awslambda import endpoint

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
    answer = ask(custom, fn, event, url)  # CloudFormation waits for the answer before what depends on it
    custom.resource_name = answer.get("PhysicalResourceId") or resource_name
    custom.set_data(answer.get("Data") or {})
    return custom


AWAITED: dict[str, Any] = {}  # request id -> the custom resource whose answer is awaited (its stack may be gone)


def ask(custom, fn, event: dict[str, Any], url: str) -> dict[str, Any]:
    """Send one request to the custom resource's function and wait for the answer at its ResponseURL."""
    from ..awslambda import run

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
    from ..awslambda import endpoint

    fn, base = self.portico_request
    self.request_id = str(uuid.uuid4())
    ask(self, fn, {**base, "RequestType": "Delete", "RequestId": self.request_id,
                    "PhysicalResourceId": self.resource_name}, endpoint())


CFN_RESPONSE_ROUTE = "{0}/cloudformation_(?P<region>[^/]+)/cfnresponse$"


def _cfnresponse(request, full_url, headers):  # the route of a custom resource's ResponseURL
    body = json.loads(request.get_data() or b"{}")
    custom = AWAITED.get(body.get("RequestId", ""))
    if custom is not None:  # an answer nobody waits for (a stale request, a stack gone) is dropped, as AWS does
        custom.answer = body
    return 200, {}, ""


def install() -> None:
    from moto.cloudformation import urls as cfn_urls
    from moto.cloudformation.custom_model import CustomModel

    replace(CustomModel, "create_from_cloudformation_json", classmethod(_custom_create))
    add(CustomModel, "delete", _custom_delete)
    # A custom resource's answer to its ResponseURL: moto routes it to CloudFormationResponse.cfnresponse,
    # captured in url_paths at import (patching the class would change nothing).
    route(cfn_urls.url_paths, CFN_RESPONSE_ROUTE, _cfnresponse)
