"""The doctor's checks that look past portico's own objects: the network path to the tasks, and an HTTP probe."""

from __future__ import annotations

import ipaddress
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..desired import invoke_url
from ..settings import SERVICE_HEADER
from ..slots import header_value
from ..spec import ServiceSpec


@dataclass
class Check:
    link: str
    ok: bool
    detail: str
    fix: str = ""


def security_groups(clients, ecs: dict[str, Any] | None, lb_arn: str | None, spec: ServiceSpec | None) -> Check:
    """Does a security group of the ECS tasks admit the NLB (its group, or its subnets) on the container port?"""
    link = "task security group admits the NLB"
    if not ecs or not spec or not lb_arn:
        return Check(link, False, "no ECS service or load balancer to look at", "fix the links above first")
    vpc_cfg = ((ecs.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {})
    groups = vpc_cfg.get("securityGroups") or []
    if not groups:
        return Check(link, False, "the ECS service has no awsvpc security groups (bridge or host networking: "
                                  "the container instances' groups decide)",
                     f"allow TCP {spec.container_port} from the NLB's subnets on the container instances' group")
    lb = clients.elbv2.describe_load_balancers(LoadBalancerArns=[lb_arn])["LoadBalancers"][0]
    lb_groups = set(lb.get("SecurityGroups") or [])
    subnet_ids = [z["SubnetId"] for z in lb.get("AvailabilityZones", []) if z.get("SubnetId")]
    cidrs = [ipaddress.ip_network(sn["CidrBlock"]) for sn in
             clients.ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"]] if subnet_ids else []
    port = spec.container_port
    sgs = clients.ec2.describe_security_groups(GroupIds=groups)["SecurityGroups"]
    for sg in sgs:
        for perm in sg.get("IpPermissions", []):
            proto = perm.get("IpProtocol")
            if proto not in ("-1", "tcp", "6"):
                continue
            if proto != "-1" and not perm.get("FromPort", 0) <= port <= perm.get("ToPort", 65535):
                continue
            if lb_groups & {p.get("GroupId") for p in perm.get("UserIdGroupPairs", [])}:
                return Check(link, True, f"{sg['GroupId']} admits the NLB's security group on TCP {port}")
            for r in perm.get("IpRanges", []):
                net = ipaddress.ip_network(r["CidrIp"])
                if cidrs and all(net.supernet_of(c) for c in cidrs):
                    return Check(link, True, f"{sg['GroupId']} admits {r['CidrIp']} (the NLB's subnets) on "
                                             f"TCP {port}")
    if lb_groups:  # an NLB with security groups: admit its group
        source = f"--source-group {sorted(lb_groups)[0]}"
    else:  # admit the NLB's subnets (the VPC's CIDR covers them all)
        vpcs = clients.ec2.describe_vpcs(VpcIds=[lb["VpcId"]])["Vpcs"] if lb.get("VpcId") else []
        source = f"--cidr {vpcs[0]['CidrBlock'] if vpcs else (cidrs[0] if cidrs else '<vpc cidr>')}"
    return Check(link, False, f"{', '.join(groups)} admit(s) nothing from the NLB on TCP {port}",
                 f"aws ec2 authorize-security-group-ingress --group-id {groups[0]} --protocol tcp --port {port} "
                 f"{source}")


def probe(clients, settings, spec: ServiceSpec | None, api_key: str | None, base: str | None = None) -> Check:
    """One HTTP request to the invoke URL (or to `base`, where the stages are served locally), judged by what
    API Gateway answers. A stage with a custom domain is probed on it (locally: `base` with its Host header)."""
    link = "HTTP probe"
    if not spec:
        return Check(link, False, "no valid entry", "fix the links above first")
    domain = settings.domain(settings.stage)
    url = invoke_url(settings.rest_api_id, clients.region, settings.stage, spec.path, domain)
    headers = {"Host": domain} if base and domain else {}
    if base:
        url = f"{base.rstrip('/')}{spec.path}" if domain else f"{base.rstrip('/')}/{settings.stage}{spec.path}"
    if settings.endpoint_url and not base:
        return Check(link, False, f"not sent: the local AWS at {settings.endpoint_url} has no API Gateway data "
                                  f"plane to serve {url}", "probe a deployed stack (from inside its VPC)")
    verb = "GET" if "GET" in spec.methods or "ANY" in spec.methods else spec.methods[0]
    if api_key:
        headers["x-api-key"] = api_key
    request = urllib.request.Request(url, method=verb, headers=headers)
    if headers.get("Host"):
        url = f"{url} (Host: {headers['Host']})"  # what the report names; the request keeps the bare URL
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - a URL portico built
            status, body = resp.status, resp.read(300).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(300).decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return Check(link, False, f"{verb} {url}: {getattr(exc, 'reason', exc)}",
                     "a private API answers only inside its VPC (or through its VPC endpoint): probe from there")
    if status < 500 and "Missing Authentication Token" not in body and not (status == 403 and not api_key
                                                                             and spec.auth == "API_KEY"):
        return Check(link, True, f"{verb} {url} → {status}")
    hint = {403: "403 without a key: pass --api-key (a key of a usage plan)" if spec.auth == "API_KEY" else
            "403: the stage has no such route, or the caller is not authorised",
            502: "502: API Gateway reached no healthy target (see the target and security group checks)",
            504: "504: the service did not answer within 29 s"}.get(status, "see the checks above")
    return Check(link, False, f"{verb} {url} → {status} {body[:120]!r}", hint)


def alb_links(c, s, service: str, ledger, snap, checks: list[Check], fix: str) -> tuple:
    """ALB mode: the rule priority, the service's rule (its header condition) and the rule's target group."""
    listener, priority = s.alb_listener_arn, ledger.priority if ledger else None
    reserved = bool(priority and snap.priorities.get((listener, priority)) == service)
    checks.append(Check("rule priority reserved", reserved, f"priority {priority} on the ALB listener" if reserved
                        else "no rule priority reservation for the service", "" if reserved else fix))
    try:
        rules = c.elbv2.describe_rules(ListenerArn=listener)["Rules"]
        port = c.elbv2.describe_listeners(ListenerArns=[listener])["Listeners"][0]["Port"]
    except ClientError:
        rules, port = [], None
    rule = next((r for r in rules if ledger and r["RuleArn"] == ledger.rule_arn), None)
    header = [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": SERVICE_HEADER, "Values": [
        header_value(service, snap.header_secret) if snap.header_secret else service]}}]
    ok = bool(rule and [{k: cond[k] for k in ("Field", "HttpHeaderConfig") if k in cond}
                        for cond in rule["Conditions"]] == header)
    checks.append(Check("listener rule on the ALB", ok,
                        f"priority {rule['Priority']}, {SERVICE_HEADER}: {service}.<token>"
                        if ok else "the rule's condition is not the service's header" if rule
                        else "no rule portico created for the service on the ALB listener",
                        "" if ok else fix))
    forwards = [a.get("TargetGroupArn") for a in (rule or {}).get("Actions", []) if a.get("TargetGroupArn")]
    tg_arn = next((a for a in forwards if a in set(ledger.target_groups.values())), None) if ledger else None
    checks.append(Check("target group", tg_arn is not None,
                        f"{tg_arn.rsplit(':', 1)[-1]}, the rule forwards to it" if tg_arn
                        else "the rule does not forward to a target group portico created for the service",
                        "" if tg_arn else fix))
    return (ledger.load_balancer if ledger else None), port, tg_arn

