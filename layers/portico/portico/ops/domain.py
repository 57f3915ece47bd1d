"""The doctor's custom-domain check: the stage's domain exists, its certificate serves it, and it reaches the stage.

A regional custom domain needs an ACM certificate in the API's Region, ISSUED, whose names cover the domain
(https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-custom-domains.html); its routing rules,
lowest priority first, or its base path mappings (by its routing mode,
https://docs.aws.amazon.com/apigateway/latest/developerguide/set-routing-mode.html) send its requests to a
REST API stage. A domain name is one per account and Region: one that another stack or team made, routed to
another API, is reported with whom it serves.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from .reach import Check

FIX_DEPLOY = "deploy the stack with DomainNames and CertificateArn (docs/deploy.md, your own hostname)"


def covers(names: list[str], domain: str) -> bool:
    """Whether a certificate for `names` serves `domain` (a wildcard stands for exactly one label)."""
    domain = domain.lower().rstrip(".")
    return any(n == domain or (n.startswith("*.") and domain.split(".", 1)[-1] == n[2:] and "." in domain)
               for n in (name.lower() for name in names))


def _certificate(acm, region: str, arn: str | None, domain: str) -> str | None:
    """Why the certificate cannot serve `domain` (with the fix), or None."""
    if not arn:
        return f"{domain} has no regional certificate: recreate it with CertificateArn"
    where = arn.split(":")[3] if arn.count(":") >= 5 else "?"
    if where != region:
        return f"certificate {arn} is in {where}, not {region}: request or import one in {region}"
    try:
        cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    except ClientError as exc:
        return f"certificate {arn}: {exc.response['Error'].get('Message')}"
    if cert.get("Status") != "ISSUED":
        return f"certificate {arn} is {cert.get('Status')}, not ISSUED: complete its DNS validation in ACM"
    names = [cert.get("DomainName", ""), *(cert.get("SubjectAlternativeNames") or [])]
    if not covers(names, domain):
        return f"certificate {arn} names {', '.join(sorted(set(names)))}, not {domain}: use one that covers it"
    return None


def routing_rules(apigatewayv2, name: str) -> list[dict]:
    """Every routing rule of domain `name`, lowest priority first (ListRoutingRules pages; botocore has no
    paginator for it)."""
    rules, token = [], ""
    while True:
        page = apigatewayv2.list_routing_rules(DomainName=name, **({"NextToken": token} if token else {}))
        rules += page.get("RoutingRules", [])
        token = page.get("NextToken")
        if not token:
            return sorted(rules, key=lambda r: r["Priority"])


def _target(apigateway, apigatewayv2, domain: dict) -> tuple[str, str, str] | None:
    """(API id, stage, how) a request without conditions reaches: the first catch-all rule, else the (none)
    mapping, as the domain's routing mode allows."""
    name, mode = domain["domainName"], domain.get("routingMode") or "BASE_PATH_MAPPING_ONLY"
    if mode != "BASE_PATH_MAPPING_ONLY":
        for rule in routing_rules(apigatewayv2, name):
            if not rule.get("Conditions"):
                invoke = rule["Actions"][0]["InvokeApi"]
                return invoke["ApiId"], invoke["Stage"], f"routing rule {rule['Priority']}"
    if mode != "ROUTING_RULE_ONLY":
        for m in apigateway.get_base_path_mappings(domainName=name).get("items", []):
            if m.get("basePath") in (None, "", "(none)"):
                return m["restApiId"], m.get("stage", ""), "base path mapping (none)"
    return None


def check(clients, settings, stage: str) -> Check | None:
    """The stage's custom domain, or None when the stage has none."""
    name = settings.domain(stage)
    if not name:
        return None
    link = f"custom domain {name}"
    try:
        domain = clients.apigateway.get_domain_name(domainName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NotFoundException":
            raise
        return Check(link, False, f"{name} is not a custom domain name in {clients.region}", FIX_DEPLOY)
    problem = _certificate(clients.acm, clients.region, domain.get("regionalCertificateArn"), name)
    if problem:
        return Check(link, False, problem, "CertificateArn: an ISSUED ACM certificate in this Region covering "
                                           "the domain, then deploy the stack again")
    target = _target(clients.apigateway, clients.apigatewayv2, domain)
    if target is None:
        return Check(link, False, f"nothing on {name} routes every request (no catch-all rule or (none) mapping)",
                     FIX_DEPLOY)
    api, to, how = target
    if api != settings.rest_api_id:
        return Check(link, False, f"{name} sends requests to API {api} stage {to} ({how}), not to this API "
                                  f"{settings.rest_api_id}: the domain belongs to another API",
                     "choose a domain name of your own in DomainNames (one name serves one API per Region)")
    if to != stage:
        return Check(link, False, f"{name} sends requests to API {api} stage {to} ({how}), not to stage {stage}",
                     f"{FIX_DEPLOY}: its pair names the stage the domain serves")
    return Check(link, True, f"https://{name} → stage {stage} ({how}), certificate ISSUED "
                             f"({domain.get('securityPolicy') or 'TLS_1_2'})")
