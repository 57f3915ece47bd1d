"""Private integrations through a VPC link V2, as REST APIs take them since November 2025.

A REST API integration with `connectionType=VPC_LINK` and `connectionId` = a VPC link V2 (apigatewayv2
CreateVpcLink) names the load balancer it sends to with `integrationTarget`, the ARN of an NLB or ALB
("The ALB or NLB ARN to send the request to", PutIntegration in the API reference;
https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-private-integration.html). A V2 link has no
targets of its own (subnets and security groups only,
https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-vpc-links-v2.html), so one link serves
any number of load balancers. moto reads neither field: it drops `integrationTarget` on PutIntegration and
never reports it. Here PutIntegration keeps it and GetIntegration/GetResources report it, after checking what
AWS requires of it: a private integration, a load balancer that exists, and, on a V2 link, a target at all.
AWS documents no message text for these refusals; they come back as BadRequestException naming the field.
"""

from __future__ import annotations

import json

from . import wrap


def _bad_request(message: str):
    from moto.apigateway.exceptions import BadRequestException

    return BadRequestException(message)


def _is_v2_link(account: str, region: str, link: str) -> bool:
    from moto.apigatewayv2.models import apigatewayv2_backends

    return link in apigatewayv2_backends[account][region].vpc_links


def _load_balancer_exists(account: str, region: str, arn: str) -> bool:
    from moto.elbv2.models import elbv2_backends

    return arn in elbv2_backends[account][region].load_balancers


def check_target(account: str, region: str, connection_type: str | None, link: str | None,
                 target: str | None) -> None:
    """AWS's rules for `integrationTarget` on one integration (also used by the import patch's callers)."""
    private = str(connection_type or "").upper() == "VPC_LINK"
    staged = str(link or "").startswith("${stageVariables.")
    if target:
        if not private:
            raise _bad_request("Invalid integration target: integrationTarget is supported only for private "
                               "integrations (connectionType VPC_LINK) through a VPC link V2")
        if not staged and link and not _is_v2_link(account, region, link):
            raise _bad_request(f"Invalid integration target: VPC link {link} is a VPC link V1, which sends to "
                               "its own targetArns; integrationTarget needs a VPC link V2")
        if not _load_balancer_exists(account, region, target):
            raise _bad_request(f"Invalid integration target: load balancer {target} not found")
    elif private and link and not staged and _is_v2_link(account, region, link):
        raise _bad_request(f"Invalid integration: VPC link V2 {link} requires integrationTarget, the ARN of the "
                           "NLB or ALB to send the request to")


def _keep_target(handler):
    def wrapper(self):
        target = self._get_param("integrationTarget")
        check_target(self.current_account, self.region, self._get_param("connectionType"),
                     self._get_param("connectionId"), target)
        status, headers, _ = handler(self)
        parts = self.path.split("/")
        integration = self.backend.get_integration(parts[2], parts[4], parts[6])
        integration.integration_target = target
        return status, headers, json.dumps(integration.to_json())

    wrapper.portico_target = True
    return wrapper


def _report_target(to_json):
    def wrapper(self):
        out = to_json(self)
        if getattr(self, "integration_target", None):
            out["integrationTarget"] = self.integration_target
        return out

    wrapper.portico_target = True
    return wrapper


def install() -> None:
    from moto.apigateway.models import Integration
    from moto.apigateway.responses import APIGatewayResponse

    wrap(APIGatewayResponse, "put_integration", _keep_target)
    wrap(Integration, "to_json", _report_target)
