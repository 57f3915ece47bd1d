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


# VPC links V2 exist only in these Availability Zone IDs: the table "Availability by Region" of
# https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-vpc-links-v2.html (the same table is
# on http-api-vpc-links.html). The copy read for this lists these Regions first; a Region it does not list is
# not checked here.
V2_ZONES = {
    "us-east-1": {"use1-az1", "use1-az2", "use1-az4", "use1-az5", "use1-az6"},
    "us-east-2": {"use2-az1", "use2-az2", "use2-az3"},
    "us-west-1": {"usw1-az1", "usw1-az3"},
    "us-west-2": {"usw2-az1", "usw2-az2", "usw2-az3", "usw2-az4"},
    "ap-east-1": {"ape1-az2", "ape1-az3"},
    "ap-south-1": {"aps1-az1", "aps1-az2", "aps1-az3"},
    "ap-northeast-2": {"apne2-az1", "apne2-az2", "apne2-az3"},
    "ap-southeast-1": {"apse1-az1", "apse1-az2", "apse1-az3"},
    "ap-southeast-2": {"apse2-az1", "apse2-az2", "apse2-az3"},
}


def _v2_zones(create_vpc_link):  # ApiGatewayV2Backend.create_vpc_link
    """A subnet outside those zones is refused with AWS's answer: BadRequestException "Subnet 'subnet-...' is in
    Availability Zone 'use1-az3' where service is not available" (recorded in
    https://github.com/aws/aws-cdk/issues/13569 and https://github.com/snyk/driftctl/pull/1329)."""

    def wrapper(self, name, sg_ids, subnet_ids, tags):
        from moto.apigatewayv2.exceptions import BadRequestException
        from moto.ec2.models import ec2_backends

        zones = V2_ZONES.get(self.region_name)
        for subnet_id in subnet_ids if zones else ():
            zone = ec2_backends[self.account_id][self.region_name].get_subnet(subnet_id).availability_zone_id
            if zone not in zones:
                raise BadRequestException(f"Subnet '{subnet_id}' is in Availability Zone '{zone}' where service is "
                                          "not available")
        return create_vpc_link(self, name, sg_ids, subnet_ids, tags)

    return wrapper


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

    return wrapper


def _report_target(to_json):
    def wrapper(self):
        out = to_json(self)
        if getattr(self, "integration_target", None):
            out["integrationTarget"] = self.integration_target
        return out

    return wrapper


def install() -> None:
    from moto.apigateway.models import Integration
    from moto.apigateway.responses import APIGatewayResponse
    from moto.apigatewayv2.models import ApiGatewayV2Backend

    wrap(APIGatewayResponse, "put_integration", _keep_target)
    wrap(Integration, "to_json", _report_target)
    wrap(ApiGatewayV2Backend, "create_vpc_link", _v2_zones)
