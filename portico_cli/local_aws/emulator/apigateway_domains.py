"""Custom domain names of REST APIs, their routing mode and routing rules, as API Gateway checks them.

moto keeps a domain name with whatever certificate it is given, overwrites one that exists, ignores
`routingMode` and `endpointAccessMode`, and has no routing rules at all. Here:

- CreateDomainName (REST, REGIONAL) checks the regional ACM certificate: in the API's Region, else
  BadRequestException "Invalid certificate ARN: {arn}. Certificate must be in '{region}'." (AWS's text, as
  reported in https://github.com/amplify-education/serverless-domain-manager/pull/49); known to ACM, ISSUED
  and covering the name (its domain or a subject alternative name; a wildcard covers one label). AWS
  documents no text for the last three: each is a BadRequestException naming the certificate and the rule.
  A name that exists already is a ConflictException (moto's apigatewayv2 text, "The domain name resource
  already exists."). `routingMode` is one of BASE_PATH_MAPPING_ONLY (the default), ROUTING_RULE_ONLY,
  ROUTING_RULE_THEN_BASE_PATH_MAPPING ("when you create a custom domain name using apigateway,
  API_MAPPING_ONLY is called BASE_PATH_MAPPING_ONLY": set-routing-mode.html). An enhanced security policy
  (`SecurityPolicy_*`) needs `endpointAccessMode` BASIC or STRICT ("when you use an enhanced security policy,
  you must also set the endpoint access mode": apigateway-security-policies.html); a `*_EDGE` one is for
  edge-optimized names only. GetDomainName reports `routingMode`, `endpointAccessMode`, `domainNameArn`.
- Routing rules (apigatewayv2 Create/Get/List/Put/DeleteRoutingRule on a REST domain name;
  https://docs.aws.amazon.com/apigateway/latest/developerguide/rest-api-routing-rules.html): refused on a
  BASE_PATH_MAPPING_ONLY domain ("you can't create a routing rule": set-routing-mode.html); priority
  1-1,000,000 and unique on the domain (ConflictException); at most two header conditions and one base path
  condition; header names under 40 characters and glob values under 128 of the allowed characters, a
  wildcard only as `*prefix`, `suffix*` or `*infix*` (the AWS::ApiGatewayV2::RoutingRule schema); one
  InvokeApi action on a stage that exists; 50 rules per domain (adjustable: api-gateway-execution-service-
  limits-table.html), PORTICO_EMULATOR_ROUTING_RULES_PER_DOMAIN, LimitExceededException past it.
- CreateBasePathMapping on a ROUTING_RULE_ONLY domain is refused ("you can't create an API mapping").
- UpdateDomainName (moto has none): replace /regionalCertificateArn (checked as on create), /securityPolicy,
  /endpointAccessMode, /routingMode, /endpointConfiguration/ipAddressType.
- UpdateRestApi's `/disableExecuteApiEndpoint` "False" turns it off (moto took any string for true).

The CloudFormation types are apigateway_domains_cfn.py's.
"""

from __future__ import annotations

import json
import re
import uuid

from . import add, limit, route, wrap

RULES_PER_DOMAIN = "PORTICO_EMULATOR_ROUTING_RULES_PER_DOMAIN"
ROUTING_MODES = ("BASE_PATH_MAPPING_ONLY", "ROUTING_RULE_ONLY", "ROUTING_RULE_THEN_BASE_PATH_MAPPING")
HEADER_NAME = re.compile(r"[A-Za-z0-9*?\-!#$%&'.^_`|~]{1,39}")
VALUE_GLOB = re.compile(r"\*?[A-Za-z0-9?\-!#$%&'.^_`|~]+\*?|\*")


def _bad(message: str, code: str = "BadRequestException", status: int = 400) -> Exception:
    from moto.apigateway.exceptions import ApiGatewayException

    error = ApiGatewayException(code, message)
    error.code = status
    return error


def domain_arn(region: str, name: str) -> str:
    return f"arn:aws:apigateway:{region}::/domainnames/{name}"


def covers(names: list[str], domain: str) -> bool:
    """Whether a certificate for `names` serves `domain` (a wildcard stands for exactly one label)."""
    domain = domain.lower().rstrip(".")
    for name in (n.lower() for n in names):
        if name == domain or (name.startswith("*.") and "." in domain and domain.split(".", 1)[1] == name[2:]):
            return True
    return False


def _check_certificate(account: str, region: str, arn: str | None, domain: str) -> None:
    from moto.acm.models import acm_backends

    if not arn:
        raise _bad("A certificate was not provided for the endpoint type REGIONAL: give regionalCertificateArn, "
                   "an ACM certificate in this Region")
    where = arn.split(":")[3] if arn.count(":") >= 5 else ""
    if where != region:
        raise _bad(f"Invalid certificate ARN: {arn}. Certificate must be in '{region}'.")
    cert = acm_backends[account][region]._certificates.get(arn)
    if cert is None:
        raise _bad(f"Invalid certificate ARN: {arn}: no such certificate in ACM in {region} for this account")
    cert.check()
    if cert.status != "ISSUED":
        raise _bad(f"Certificate {arn} is {cert.status}, not ISSUED: validate it in ACM (DNS validation) first")
    names = [cert.common_name, *(cert.sans or [])]
    if not covers(names, domain):
        raise _bad(f"Certificate {arn} does not cover {domain} (it names {', '.join(sorted(set(names)))}): "
                   "request one for this name or a wildcard of its parent")


def _check(account: str, region: str, name: str, types: list[str], mode: str, policy: str, access: str | None,
           certificate: str | None) -> None:
    """CreateDomainName's and UpdateDomainName's rules for a domain's settings as they would be."""
    if mode not in ROUTING_MODES:
        raise _bad(f"Invalid routingMode '{mode}': must be one of {', '.join(ROUTING_MODES)}")
    if policy.startswith("SecurityPolicy_") and access not in ("BASIC", "STRICT"):
        raise _bad(f"securityPolicy {policy} is an enhanced security policy: endpointAccessMode must be "
                   "BASIC or STRICT")
    if access and access not in ("BASIC", "STRICT"):
        raise _bad(f"Invalid endpointAccessMode '{access}': must be BASIC or STRICT")
    if "REGIONAL" in types:
        if policy.endswith("_EDGE"):
            raise _bad(f"securityPolicy {policy} is for edge-optimized domain names, not REGIONAL")
        _check_certificate(account, region, certificate, name)


def _create_domain_name(create):  # APIGatewayResponse.create_domain_name
    def wrapper(self):
        name = self._get_param("domainName") or ""
        mode = self._get_param("routingMode") or "BASE_PATH_MAPPING_ONLY"
        access = self._get_param("endpointAccessMode")
        if name in self.backend.domain_names:
            raise _bad("The domain name resource already exists.", "ConflictException", 409)
        _check(self.current_account, self.region, name,
               (self._get_param("endpointConfiguration") or {}).get("types") or ["EDGE"], mode,
               self._get_param("securityPolicy") or "", access, self._get_param("regionalCertificateArn"))
        status, headers, _ = create(self)
        domain = self.backend.domain_names[name]
        domain.routing_mode, domain.endpoint_access_mode = mode, access
        return status, headers, json.dumps(domain.to_json())

    return wrapper


UPDATABLE = {"/regionalCertificateArn": "regional_certificate_arn", "/securityPolicy": "security_policy",
             "/endpointAccessMode": "endpoint_access_mode", "/routingMode": "routing_mode"}


def _update_domain_name(self):  # bound as APIGatewayResponse.update_domain_name
    from moto.apigateway.exceptions import DomainNameNotFound

    name = self.path.split("/")[2]
    domain = self.backend.domain_names.get(name)
    if domain is None:
        raise DomainNameNotFound()
    values = {attr: getattr(domain, attr, None) for attr in UPDATABLE.values()}
    config = dict(domain.endpoint_configuration or {"types": ["EDGE"]})
    for op in self._get_param("patchOperations") or []:
        path = op.get("path")
        if op.get("op") != "replace" or (path not in UPDATABLE and path != "/endpointConfiguration/ipAddressType"):
            raise _bad(f"Invalid patch path '{path}' specified for op '{op.get('op')}'")
        if path in UPDATABLE:
            values[UPDATABLE[path]] = op.get("value")
        else:
            config["ipAddressType"] = op.get("value")
    _check(self.current_account, self.region, name, config.get("types") or ["EDGE"],
           values["routing_mode"] or "BASE_PATH_MAPPING_ONLY", values["security_policy"] or "",
           values["endpoint_access_mode"], values["regional_certificate_arn"])
    for attr, value in values.items():
        setattr(domain, attr, value)
    domain.endpoint_configuration = config
    return 200, {}, json.dumps(domain.to_json())


def _report(to_json):  # DomainName.to_json
    def wrapper(self):
        out = to_json(self)
        region = self.regional_domain_name.split(".")[2]
        out.update({"routingMode": getattr(self, "routing_mode", "BASE_PATH_MAPPING_ONLY"),
                    "domainNameArn": domain_arn(region, self.domain_name)})
        if getattr(self, "endpoint_access_mode", None):
            out["endpointAccessMode"] = self.endpoint_access_mode
        return out

    return wrapper


def _mapping_mode(create):  # APIGatewayBackend.create_base_path_mapping
    def wrapper(self, domain_name, rest_api_id, base_path, stage):
        domain = self.domain_names.get(domain_name)
        if domain is not None and getattr(domain, "routing_mode", "") == "ROUTING_RULE_ONLY":
            raise _bad(f"Domain name {domain_name} has routingMode ROUTING_RULE_ONLY: it takes routing rules, "
                       "not base path mappings")
        return create(self, domain_name, rest_api_id, base_path, stage)

    return wrapper


# ------------------------------------------------------------------ routing rules (apigatewayv2 operations)


def _domain(response):
    from moto.apigateway.models import apigateway_backends

    name = response.path.split("/")[3]
    backend = apigateway_backends[response.current_account][response.region]
    if name not in backend.domain_names:
        raise _bad("Invalid domain name identifier specified", "NotFoundException", 404)
    return backend, backend.domain_names[name]


def _validate(backend, domain, body: dict, rules: dict, rule_id: str | None) -> dict:
    priority, actions, conditions = body.get("priority"), body.get("actions"), body.get("conditions") or []
    if getattr(domain, "routing_mode", "BASE_PATH_MAPPING_ONLY") == "BASE_PATH_MAPPING_ONLY":
        raise _bad(f"Domain name {domain.domain_name} has routingMode BASE_PATH_MAPPING_ONLY: set "
                   "ROUTING_RULE_ONLY or ROUTING_RULE_THEN_BASE_PATH_MAPPING to use routing rules")
    if not isinstance(priority, int) or not 1 <= priority <= 1_000_000:
        raise _bad(f"Invalid priority {priority!r}: must be a whole number from 1 to 1000000")
    if any(r["priority"] == priority for i, r in rules.items() if i != rule_id):
        raise _bad(f"A routing rule with priority {priority} already exists on {domain.domain_name}: rules "
                   "can't have the same priority", "ConflictException", 409)
    headers = [c["matchHeaders"] for c in conditions if c.get("matchHeaders")]
    paths = [c["matchBasePaths"] for c in conditions if c.get("matchBasePaths")]
    if len(headers) > 2 or len(paths) > 1:
        raise _bad("Invalid conditions: a routing rule takes up to two matchHeaders conditions and one "
                   "matchBasePaths condition")
    for match in headers:
        for h in match.get("anyOf") or []:
            if not HEADER_NAME.fullmatch(h.get("header") or ""):
                raise _bad(f"Invalid header name '{h.get('header')}': under 40 characters of a-z A-Z 0-9 "
                           "*?-!#$%&'.^_`|~")
            glob = h.get("valueGlob") or ""
            if len(glob) >= 128 or not VALUE_GLOB.fullmatch(glob):
                raise _bad(f"Invalid valueGlob '{glob}' for header {h['header']}: under 128 allowed characters, "
                           "a wildcard only as *prefix-match, suffix-match* or *infix*-match")
    if not isinstance(actions, list) or len(actions) != 1 or not (actions[0] or {}).get("invokeApi"):
        raise _bad("Invalid actions: a routing rule has exactly one action, invokeApi")
    invoke = actions[0]["invokeApi"]
    api = backend.apis.get(invoke.get("apiId") or "")
    if api is None:
        raise _bad(f"Invalid REST API identifier specified: {invoke.get('apiId')}", "NotFoundException", 404)
    if invoke.get("stage") not in api.stages:
        raise _bad(f"Invalid stage identifier specified: stage '{invoke.get('stage')}' of REST API {api.id} "
                   "does not exist", "NotFoundException", 404)
    if rule_id is None and len(rules) >= limit(RULES_PER_DOMAIN, 50):
        raise _bad(f"Routing rules per domain name exceeded: {domain.domain_name} has {len(rules)}",
                   "LimitExceededException", 429)
    return {"priority": priority, "conditions": conditions,
            "actions": [{"invokeApi": {"apiId": api.id, "stage": invoke["stage"],
                                       "stripBasePath": bool(invoke.get("stripBasePath"))}}]}


def _rules(response, domain) -> dict[str, dict]:
    """The domain's rules (rule id -> rule, in the API's wire form): kept on the domain, gone with it."""
    return domain.__dict__.setdefault("portico_rules", {})


def _create_rule(self):  # bound as ApiGatewayV2Response.create_routing_rule
    backend, domain = _domain(self)
    rules = _rules(self, domain)
    rule = _validate(backend, domain, json.loads(self.body or "{}"), rules, None)
    rule_id = uuid.uuid4().hex[:10]
    rules[rule_id] = {**rule, "routingRuleId": rule_id,
                      "routingRuleArn": f"{domain_arn(self.region, domain.domain_name)}/routingrules/{rule_id}"}
    return 201, {"status": 201}, json.dumps(rules[rule_id])


def _rule(self):
    backend, domain = _domain(self)
    rules, rule_id = _rules(self, domain), self.path.rstrip("/").split("/")[-1]
    if rule_id not in rules:
        raise _bad(f"Invalid routing rule identifier specified: {rule_id}", "NotFoundException", 404)
    return backend, domain, rules, rule_id


def _get_rule(self):  # bound as ApiGatewayV2Response.get_routing_rule
    _, _, rules, rule_id = _rule(self)
    return 200, {}, json.dumps(rules[rule_id])


def _put_rule(self):  # bound as ApiGatewayV2Response.put_routing_rule
    backend, domain, rules, rule_id = _rule(self)
    rules[rule_id].update(_validate(backend, domain, json.loads(self.body or "{}"), rules, rule_id))
    return 200, {}, json.dumps(rules[rule_id])


def _delete_rule(self):  # bound as ApiGatewayV2Response.delete_routing_rule
    _, _, rules, rule_id = _rule(self)
    del rules[rule_id]
    return 204, {"status": 204}, ""


def _list_rules(self):  # bound as ApiGatewayV2Response.list_routing_rules
    """In priority order, `maxResults` (1-100; AWS documents no default, here all) to a page."""
    _, domain = _domain(self)
    ordered = sorted(_rules(self, domain).values(), key=lambda r: r["priority"])
    start, size = int(self.querystring.get("nextToken", ["0"])[0]), int(self.querystring.get("maxResults", [0])[0])
    page = ordered[start:start + size] if size else ordered[start:]
    more = {"nextToken": str(start + size)} if size and start + size < len(ordered) else {}
    return 200, {}, json.dumps({"routingRules": page, **more})


def _endpoint_patch(apply):  # RestAPI.apply_patch_operations: moto reads "False" as true (bool of a string)
    def wrapper(self, patch_operations):
        return apply(self, [{**op, "value": str(op.get("value")).lower() == "true"}
                            if op.get("path") == "/disableExecuteApiEndpoint" else op for op in patch_operations])

    return wrapper


def install() -> None:
    from moto.apigateway.models import APIGatewayBackend, DomainName, RestAPI
    from moto.apigateway.responses import APIGatewayResponse
    from moto.apigatewayv2 import urls as v2_urls
    from moto.apigatewayv2.responses import ApiGatewayV2Response

    wrap(APIGatewayResponse, "create_domain_name", _create_domain_name)
    wrap(DomainName, "to_json", _report)
    wrap(APIGatewayBackend, "create_base_path_mapping", _mapping_mode)
    wrap(RestAPI, "apply_patch_operations", _endpoint_patch)
    add(APIGatewayResponse, "update_domain_name", _update_domain_name)
    for op, fn in (("create_routing_rule", _create_rule), ("get_routing_rule", _get_rule),
                   ("put_routing_rule", _put_rule), ("delete_routing_rule", _delete_rule),
                   ("list_routing_rules", _list_rules)):
        add(ApiGatewayV2Response, op, fn)
    for pattern in ("{0}/v2/domainnames/(?P<domain_name>[^/]+)/routingrules$",
                    "{0}/v2/domainnames/(?P<domain_name>[^/]+)/routingrules/(?P<routing_rule_id>[^/]+)$"):
        route(v2_urls.url_paths, pattern, ApiGatewayV2Response.dispatch, new=True)
