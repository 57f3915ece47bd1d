"""The handlers of resources.py as moto CloudFormation models, and what moto's own models lack for a stack.

- Each type in HANDLERS becomes a CloudFormationModel subclass, made after moto's so it takes the type over.
- An AWS::EC2::SecurityGroup's SecurityGroupEgress, which moto ignores, replaces the default allow-all egress.
- Ref of an AWS::Lambda::LayerVersion is its ARN, of an AWS::ApiGateway::Deployment its id (moto hands on its
  model object).
- A REST API (with its resources, methods, deployments), a managed policy and a layer version are deleted with
  their stack (moto has no delete for them).
"""

from __future__ import annotations

from typing import Any

from .. import add, require, wrap
from .resources import HANDLERS, ResourceFailure, api_error, clients, egress_permission


def _group_egress(create):  # SecurityGroup.create_from_cloudformation_json
    """A group whose SecurityGroupEgress lists rules has those rules only: "when you specify a VPC security
    group, Amazon EC2 creates a default egress rule that allows egress traffic on all ports and IP protocols
    to any location. The default rule is removed only when you specify one or more egress rules"
    (aws-resource-ec2-securitygroup.html). moto ignores the property and keeps allow-all."""

    def wrapper(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        group = create.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        rules = cloudformation_json["Properties"].get("SecurityGroupEgress") or []
        if rules:
            ec2 = clients("ec2")
            ec2.revoke_security_group_egress(GroupId=group.id, IpPermissions=[
                {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
            ec2.authorize_security_group_egress(GroupId=group.id, IpPermissions=[egress_permission(r) for r in rules])
        return group

    return classmethod(wrapper)


class ApiResource:
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
            raise api_error(exc) from exc
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

    return [type(f"Api{kind.replace('::', '')}", (ApiResource, CloudFormationModel),
                 {"cloudformation_type": staticmethod(lambda kind=kind: kind),
                  "cloudformation_name_type": staticmethod(lambda: "")})
            for kind in HANDLERS]


API_MODELS: list[type] = []


def install() -> None:
    from moto.apigateway.models import Deployment, RestAPI
    from moto.awslambda.models import LayerVersion
    from moto.cloudformation import parsing
    from moto.ec2.models.security_groups import SecurityGroup
    from moto.iam.models import ManagedPolicy

    require(parsing, "NULL_MODELS").remove("AWS::CloudFormation::WaitConditionHandle")  # a stack resource (HANDLERS)
    wrap(SecurityGroup, "create_from_cloudformation_json", _group_egress)
    # Ref of a layer version is its ARN, of a deployment its id; moto's models have no physical id, so Ref
    # hands on the object.
    add(LayerVersion, "physical_resource_id", property(lambda self: self.arn))
    add(Deployment, "physical_resource_id", property(lambda self: self.id))
    # Deleted with their stack; moto's models have no delete and stay behind.
    add(RestAPI, "delete", lambda self, account, region: clients("apigateway").delete_rest_api(restApiId=self.id))
    add(ManagedPolicy, "delete", lambda self, account, region: clients("iam").delete_policy(PolicyArn=self.arn))
    add(LayerVersion, "delete", lambda self, account, region: clients("lambda").delete_layer_version(
        LayerName=self.name, VersionNumber=self.version))
    # Subclasses of CloudFormationModel defined after moto's take their types over (kept: __subclasses__ is weak).
    API_MODELS.extend(_api_models())
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
