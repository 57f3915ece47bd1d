"""CloudFormation for custom domain names, made as CloudFormation's handlers make them: through the API
(apigateway_domains.py checks it as API Gateway does).

- AWS::ApiGateway::DomainName (Ref: the name; GetAtt RegionalDomainName, RegionalHostedZoneId,
  DistributionDomainName, DistributionHostedZoneId, DomainNameArn). A name another live stack made fails with
  CloudFormation's "{name} already exists in stack {stack id}" (as met in
  https://github.com/anomalyco/sst/issues/156); one made outside CloudFormation with the API's
  ConflictException. A stack update changes the certificate, TLS policy, access mode, routing mode and IP
  address type in place (UpdateDomainName; they update with no interruption), a new name by replacement.
- AWS::ApiGatewayV2::RoutingRule (Ref: its ARN; GetAtt RoutingRuleArn, RoutingRuleId): Actions, Conditions
  and Priority update in place (PutRoutingRule), a new DomainNameArn by replacement
  (aws-resource-apigatewayv2-routingrule.html).
- AWS::ApiGateway::BasePathMapping (for domains in a mapping mode).
- AWS::ApiGateway::RestApi keeps DisableExecuteApiEndpoint ("Specifies whether clients can invoke your API by
  using the default execute-api endpoint", aws-resource-apigateway-restapi.html), which moto's handler drops,
  and its EndpointConfiguration (Types, IpAddressType, VpcEndpointIds: the API's types, ipAddressType,
  vpcEndpointIds; https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-apigateway-
  restapi-endpointconfiguration.html), which moto stores with the template's keys, so GetRestApi showed none.

Registered before cloudformation/models.py makes HANDLERS resource types (the patches' order).
"""

from __future__ import annotations

from . import wrap
from .cloudformation.resources import ResourceFailure, as_bool, as_int, clients


def _stack_owning(name: str) -> str | None:
    """The stack id of a (live) stack that made the domain name `name`, if any."""
    from moto.cloudformation import cloudformation_backends

    for regions in cloudformation_backends.values():
        for backend in regions.values():
            for stack in backend.stacks.values():
                for resource in stack.resource_map._parsed_resources.values():
                    if getattr(resource, "cf_resource_type", "") == "AWS::ApiGateway::DomainName" and \
                            getattr(resource, "physical_resource_id", None) == name:
                        return stack.stack_id
    return None


def _domain_create(p, name):
    apigw, domain = clients("apigateway"), p["DomainName"]
    owner = _stack_owning(domain)
    if owner:
        raise ResourceFailure(f"{domain} already exists in stack {owner}")
    kwargs = {"domainName": domain, "tags": {t["Key"]: str(t["Value"]) for t in p.get("Tags") or []}}
    for key, wire in (("RegionalCertificateArn", "regionalCertificateArn"), ("CertificateArn", "certificateArn"),
                      ("SecurityPolicy", "securityPolicy"), ("EndpointAccessMode", "endpointAccessMode"),
                      ("RoutingMode", "routingMode")):
        if p.get(key):
            kwargs[wire] = p[key]
    if p.get("EndpointConfiguration"):
        kwargs["endpointConfiguration"] = {"types": p["EndpointConfiguration"].get("Types") or ["EDGE"],
                                           **({"ipAddressType": p["EndpointConfiguration"]["IpAddressType"]}
                                              if p["EndpointConfiguration"].get("IpAddressType") else {})}
    out = apigw.create_domain_name(**kwargs)
    return domain, _domain_attributes(out)


def _domain_attributes(out: dict) -> dict:
    return {"RegionalDomainName": out.get("regionalDomainName", ""),
            "RegionalHostedZoneId": out.get("regionalHostedZoneId", ""),
            "DistributionDomainName": out.get("distributionDomainName", ""),
            "DistributionHostedZoneId": out.get("distributionHostedZoneId", ""), "DomainNameArn": out["domainNameArn"]}


def _rule_fields(p) -> dict:
    """A rule's CloudFormation properties as the API's arguments (CloudFormation hands booleans and numbers on
    as strings)."""
    return {"Priority": as_int(p["Priority"]), "Conditions": p.get("Conditions") or [],
            "Actions": [{"InvokeApi": {**a["InvokeApi"], "StripBasePath": as_bool(a["InvokeApi"].get("StripBasePath"))}}
                        for a in p.get("Actions") or []]}


def _rule_create(p, name):
    domain = p["DomainNameArn"].split("/domainnames/", 1)[-1]
    rule = clients("apigatewayv2").create_routing_rule(DomainName=domain, **_rule_fields(p))
    return rule["RoutingRuleArn"], {"RoutingRuleArn": rule["RoutingRuleArn"], "RoutingRuleId": rule["RoutingRuleId"]}


def _rule_update(physical, p, old):
    """In place (PutRoutingRule): a rule's Actions, Conditions and Priority update with no interruption, its
    DomainNameArn by replacement (aws-resource-apigatewayv2-routingrule.html)."""
    from .cloudformation.stack_update import _Replace

    if p["DomainNameArn"] != old["DomainNameArn"]:
        raise _Replace
    domain, _, rule_id = physical.split("/domainnames/", 1)[-1].partition("/routingrules/")
    clients("apigatewayv2").put_routing_rule(DomainName=domain, RoutingRuleId=rule_id, **_rule_fields(p))
    return {"RoutingRuleArn": physical, "RoutingRuleId": rule_id}


def _rule_delete(physical, p):
    domain, _, rule_id = physical.split("/domainnames/", 1)[-1].partition("/routingrules/")
    clients("apigatewayv2").delete_routing_rule(DomainName=domain, RoutingRuleId=rule_id)


def _mapping_create(p, name):
    out = clients("apigateway").create_base_path_mapping(domainName=p["DomainName"], restApiId=p["RestApiId"],
                                                          basePath=p.get("BasePath") or "", stage=p.get("Stage", ""))
    return f"{p['DomainName']}/{out['basePath']}", {}


def _mapping_delete(physical, p):
    domain, _, base = physical.partition("/")
    clients("apigateway").delete_base_path_mapping(domainName=domain, basePath=base)


def _endpoint_switch(create):  # RestAPI.create_from_cloudformation_json

    def wrapper(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        api = create.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        props = cloudformation_json.get("Properties") or {}
        api.disableExecuteApiEndpoint = str(props.get("DisableExecuteApiEndpoint", "")).lower() == "true"
        config = props.get("EndpointConfiguration") or {}  # Types, IpAddressType ... -> the API's types, ...
        if config:
            api.endpoint_configuration = {f"{key[0].lower()}{key[1:]}": value for key, value in config.items()}
        return api

    return classmethod(wrapper)


def _domain_update(physical, p, old):
    """UpdateDomainName for what changes in place; another name is a new domain."""
    from .cloudformation.stack_update import _Replace

    if p["DomainName"] != old["DomainName"]:
        raise _Replace
    ops = [{"op": "replace", "path": path, "value": str(p.get(key) or "")} for key, path in (
        ("RegionalCertificateArn", "/regionalCertificateArn"), ("SecurityPolicy", "/securityPolicy"),
        ("EndpointAccessMode", "/endpointAccessMode"), ("RoutingMode", "/routingMode")) if p.get(key) != old.get(key)]
    ip = (p.get("EndpointConfiguration") or {}).get("IpAddressType")
    if ip != (old.get("EndpointConfiguration") or {}).get("IpAddressType"):
        ops.append({"op": "replace", "path": "/endpointConfiguration/ipAddressType", "value": ip or "ipv4"})
    out = clients("apigateway").update_domain_name(domainName=physical, patchOperations=ops) if ops else \
        clients("apigateway").get_domain_name(domainName=physical)
    return _domain_attributes(out)


def install() -> None:
    from moto.apigateway.models import RestAPI

    from .cloudformation import resources, stack_update

    resources.HANDLERS.update({
        "AWS::ApiGateway::DomainName": (_domain_create, lambda physical, p: clients(
            "apigateway").delete_domain_name(domainName=physical)),
        "AWS::ApiGatewayV2::RoutingRule": (_rule_create, _rule_delete),
        "AWS::ApiGateway::BasePathMapping": (_mapping_create, _mapping_delete),
    })
    stack_update.UPDATERS.update({"AWS::ApiGateway::DomainName": _domain_update,
                                  "AWS::ApiGatewayV2::RoutingRule": _rule_update})
    wrap(RestAPI, "create_from_cloudformation_json", _endpoint_switch)
