"""`portico doctor SERVICE`: walk the chain from the registry entry to the invoke URL, one check per link.

entry valid → port reserved → listener on the NLB (ALB mode: rule priority reserved → listener rule on the
ALB) → target group → ECS service has the target group → targets healthy → task security group admits the NLB
on the container port → API resource, methods, VPC_LINK integration to the right port → the stage's deployment
contains them → the stage's custom domain (its certificate, its rule to the stage) → (probe) an HTTP request.

Every check runs (a later one may still tell something when an earlier one fails); a check that cannot
run without an earlier link is reported as failed with the reason. Reads only.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from ..errors import error_message
from ..observed import ecs_key, read_resources
from ..registry import FLAPPING_FIX, Registry, ecs_repairs
from ..settings import SERVICE_HEADER
from ..slots import header_value
from ..spec import HealthCheck, ServiceSpec, SpecError, parse, route_paths
from ..state import StateTable
from . import domain, reach
from .reach import Check


def _reconcile(service: str) -> str:
    return f"run `portico reconcile --service {service}` (portico re-creates what is missing)"


class Doctor:
    def __init__(self, clients, settings):
        self.clients, self.settings = clients, settings

    def run(self, service: str, *, probe: bool = False, api_key: str | None = None,
            probe_base: str | None = None) -> list[Check]:
        """`probe_base`: where the API's stages are served when not at execute-api (the local data plane)."""
        checks: list[Check] = []
        item = Registry(self.clients.dynamodb, self.settings.registry_table).get(service)
        spec: ServiceSpec | None = None
        if item is None:
            checks.append(Check("entry valid", False, f"no entry for {service!r} in {self.settings.registry_table}",
                                f"onboard it: `portico onboard {service} --cluster ... --container-port ... "
                                "--path ...`"))
        else:
            try:
                settings = self.settings
                spec = parse(item, default_auth=settings.default_auth,
                             allow_unauthenticated=settings.allow_unauthenticated,
                             allowed_clusters=settings.allowed_clusters)
                status = item.get("status", "PENDING")
                ok = status == "READY"
                checks.append(Check("entry valid", ok, f"{spec.path} → {spec.cluster_name}/{spec.ecs_service} "
                                    f"port {spec.container_port}, auth {spec.auth}; status {status}"
                                    + ("" if ok else f": {item.get('statusMessage', '')}"),
                                    "" if ok else _reconcile(service)))
            except SpecError as exc:
                checks.append(Check("entry valid", False, str(exc),
                                    "fix the attribute named above and write the entry again"))
        snap = StateTable(self.clients.dynamodb, self.settings.state_table).snapshot()
        ledger = snap.ledgers.get(service)
        if self.settings.backend == "alb":
            lb_arn, port, tg_arn = reach.alb_links(self.clients, self.settings, service, ledger, snap, checks,
                                                   _reconcile(service))
        else:
            lb_arn, port, tg_arn = self._nlb(service, ledger, snap, checks)
        self._rest(service, spec, item, ledger, snap, lb_arn, port, tg_arn, checks, probe, api_key, probe_base)
        return checks

    def _nlb(self, service, ledger, snap, checks: list[Check]) -> tuple:
        lb_arn, port = (ledger.load_balancer, ledger.port) if ledger else (None, None)
        reserved = bool(ledger and lb_arn and port and snap.ports.get((lb_arn, port)) == service)
        checks.append(Check("port reserved", reserved,
                            f"port {port} on {_short(lb_arn)}" if reserved else "no port reservation for the service",
                            "" if reserved else _reconcile(service)))

        listener = self._listener(lb_arn, port) if lb_arn and port else None
        checks.append(Check("listener on the NLB", listener is not None,
                            f"{listener['Protocol']} :{port} ({_short(listener['ListenerArn'])})" if listener
                            else f"no listener on port {port} of {_short(lb_arn)}" if port else "no port to look at",
                            "" if listener else _reconcile(service)))

        tg_arn = self._target_group(listener, ledger)
        checks.append(Check("target group", tg_arn is not None,
                            f"{_short(tg_arn)}, the listener forwards to it" if tg_arn
                            else "the listener does not forward to a target group portico created for the service",
                            "" if tg_arn else _reconcile(service)))
        return lb_arn, port, tg_arn

    def _rest(self, service, spec, item, ledger, snap, lb_arn, port, tg_arn, checks, probe, api_key, probe_base):
        ecs = self._ecs(spec, ledger)
        attached = bool(ecs and tg_arn and any(lb.get("targetGroupArn") == tg_arn
                                               for lb in ecs.get("loadBalancers", [])))
        repairs, _, flaps = ecs_repairs(item or {}, False, time.time(), self.settings.sweep_seconds)
        if attached and ecs and flaps:  # in place now, but put back pass after pass
            checks.append(Check("ECS service has the target group", False,
                                f"{ecs['serviceName']} has it, but only because portico put it back {repairs} passes "
                                "in a row (each rolled its tasks)", FLAPPING_FIX))
        else:
            checks.append(Check("ECS service has the target group", attached,
                                f"{ecs['serviceName']} ({ecs.get('runningCount', 0)}/{ecs.get('desiredCount', 0)} "
                                "tasks running)" if attached and ecs else
                                "ECS service not found" if not ecs else "the target group is not in its loadBalancers",
                                "" if attached else _reconcile(service) + "; the ECS service must use the rolling "
                                "(ECS) deployment controller"))

        checks.append(self._health(tg_arn, spec, item))
        checks.append(reach.security_groups(self.clients, ecs, lb_arn, spec))
        links = self.settings.links(snap.link_version, snap.pool_arns)
        checks.append(self._link(lb_arn, links))
        checks.append(self._api(service, spec, ledger, lb_arn, port, links, snap.header_secret))
        checks.append(self._deployment(service, spec, snap))
        if self.settings.domain(self.settings.stage):
            checks.append(domain.check(self.clients, self.settings, self.settings.stage))
        if probe:
            checks.append(reach.probe(self.clients, self.settings, spec, api_key, probe_base))

    # -- ELB ----------------------------------------------------------------------------------------
    def _listener(self, lb_arn: str, port: int) -> dict[str, Any] | None:
        try:
            for page in self.clients.elbv2.get_paginator("describe_listeners").paginate(LoadBalancerArn=lb_arn):
                for li in page["Listeners"]:
                    if li["Port"] == port:
                        return li
        except ClientError:
            return None
        return None

    def _target_group(self, listener, ledger) -> str | None:
        if not listener or not ledger:
            return None
        forwards = [a.get("TargetGroupArn") for a in listener.get("DefaultActions", []) if a.get("TargetGroupArn")]
        mine = set(ledger.target_groups.values())
        return next((a for a in forwards if a in mine), None)

    def _health(self, tg_arn: str | None, spec: ServiceSpec | None, item: dict[str, Any] | None) -> Check:
        link = "targets healthy"
        if not tg_arn:
            return Check(link, False, "no target group to look at", "fix the target group first")
        states = [d["TargetHealth"] for d in
                  self.clients.elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]]
        healthy = sum(1 for st in states if st.get("State") == "healthy")
        check = spec.health_check if spec else HealthCheck()
        hc = (f"health check {'HTTP ' + spec.health_check_path if spec and spec.health_check_path else 'TCP'} "
              f"every {check.interval} s, healthy after {check.healthy}")
        if states and healthy == len(states):
            return Check(link, True, f"{healthy}/{len(states)} healthy ({hc})")
        if not states:
            return Check(link, False, f"no targets registered ({hc})",
                         "ECS registers running tasks: check the service's tasks start "
                         "(`aws ecs describe-services`, stopped-task reasons)")
        if all(st.get("State") in ("healthy", "initial") for st in states):
            return _registering(link, healthy, len(states), hc, check, item)
        bad = sorted({f"{st.get('State')}: {st.get('Reason', '')} {st.get('Description', '')}".strip(": ")
                      for st in states if st.get("State") not in ("healthy", "initial")})
        return Check(link, False, f"{healthy}/{len(states)} healthy ({hc}); {', '.join(bad)}",
                     "check the container listens on containerPort and answers the health check; set "
                     "healthCheckPath to a path that returns 200")

    # -- ECS and EC2 --------------------------------------------------------------------------------
    def _ecs(self, spec, ledger) -> dict[str, Any] | None:
        key = ecs_key(spec.cluster, spec.ecs_service) if spec else (ledger.ecs if ledger else None)
        if not key:
            return None
        cluster, service = key.split("/", 1)
        try:
            found = self.clients.ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
        except ClientError:
            return None
        return found[0] if found and found[0].get("status") != "INACTIVE" else None

    # -- API Gateway --------------------------------------------------------------------------------
    def _link(self, lb_arn, links: dict[str, tuple[str, str | None]]) -> Check:
        """The VPC link the service's integrations go through, by its status. A VPC link V2 that carries no
        traffic for 60 days becomes INACTIVE: API Gateway deletes its network interfaces, requests fail, and the
        first requests after that make it provision them again, which takes a few minutes ("If no traffic is
        sent over the VPC link for 60 days, it becomes INACTIVE",
        https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-vpc-links-v2.html)."""
        name = "VPC link"
        link_id, _ = links.get(lb_arn, (None, None))
        if not link_id:
            return Check(name, False, "no VPC link for the service's load balancer in the settings",
                         "check PORTICO_VPC_LINK_IDS / PORTICO_VPC_LINK_V2_ID against the stack's outputs")
        v2 = link_id == self.settings.vpc_link_v2_id
        try:
            if v2:
                got = self.clients.apigatewayv2.get_vpc_link(VpcLinkId=link_id)
                status, message = got.get("VpcLinkStatus", ""), got.get("VpcLinkStatusMessage", "")
            else:
                got = self.clients.apigateway.get_vpc_link(vpcLinkId=link_id)
                status, message = got.get("status", ""), got.get("statusMessage", "")
        except ClientError as exc:
            return Check(name, False, f"{link_id}: {error_message(exc)}",
                         "the link in the settings does not exist: check them against the stack's outputs")
        detail = f"{link_id} ({'v2' if v2 else 'v1'}) {status}" + (f": {message}" if message else "")
        fix = {"INACTIVE": "no traffic for 60 days: the next requests reactivate it, and fail until its network "
                           "interfaces are back (a few minutes); send a request now (portico doctor --probe)",
               "PENDING": "being created or reactivated: wait a few minutes",
               "FAILED": "replace the link (docs/deploy.md, \"Replacing the VPC link\"); its statusMessage says why",
               "DELETING": "the link is being deleted: the stack's links are not what the settings name"}
        return Check(name, status == "AVAILABLE", detail, "" if status == "AVAILABLE" else fix.get(status, ""))

    def _api(self, service, spec, ledger, lb_arn, port, links: dict[str, tuple[str, str | None]],
             secret=None) -> Check:
        link = "API resource, methods, VPC_LINK integration"
        header = header_value(service, secret) if self.settings.backend == "alb" and secret else None
        if not spec or not port:
            return Check(link, False, "no valid entry or port to compare with", "fix the links above first")
        resources = read_resources(self.clients.apigateway, self.settings.rest_api_id)
        link_id, target = links.get(lb_arn, (None, None))
        problems = []
        for path in route_paths(spec.path):
            res = resources.get(path)
            if res is None:
                problems.append(f"{path} is missing")
                continue
            for verb in spec.methods:
                m = res.methods.get(verb)
                if m is None:
                    problems.append(f"{verb} {path} is missing")
                    continue
                integ = m.integration
                if integ.get("type") != "HTTP_PROXY" or integ.get("connectionType") != "VPC_LINK":
                    problems.append(f"{verb} {path} is not an HTTP_PROXY VPC_LINK integration")
                elif f":{port}/" not in (integ.get("uri") or ""):
                    problems.append(f"{verb} {path} goes to {integ.get('uri')}, not port {port}")
                elif integ.get("connectionId") and link_id and integ["connectionId"] != link_id:
                    problems.append(f"{verb} {path} uses VPC link {integ['connectionId']}, not {link_id}")
                elif self.settings.backend == "alb" and (integ.get("requestParameters") or {}).get(
                        f"integration.request.header.{SERVICE_HEADER}") != f"'{header}'":
                    problems.append(f"{verb} {path} does not set {SERVICE_HEADER}: {service}.<token> (the ALB "
                                    "rule's header)")
                elif (integ.get("integrationTarget") or None) != target:
                    problems.append(f"{verb} {path} targets {integ.get('integrationTarget') or 'no load balancer'}"
                                    f" through its VPC link, not {target or 'the link own NLB (v1)'}")
        if problems:
            return Check(link, False, "; ".join(problems), _reconcile(service))
        verbs = "/".join(spec.methods)
        return Check(link, True, f"{' and '.join(route_paths(spec.path))}: {verbs} → VPC link {link_id} → :{port}")

    def _deployment(self, service, spec, snap) -> Check:
        link = f"stage {self.settings.stage} deployment contains them"
        if not spec:
            return Check(link, False, "no valid entry", "fix the links above first")
        try:
            stage = self.clients.apigateway.get_stage(restApiId=self.settings.rest_api_id,
                                                      stageName=self.settings.stage)
        except ClientError as exc:
            return Check(link, False, f"stage {self.settings.stage}: {error_message(exc)}",
                         "deploy the stack's template (it creates the stages)")
        dep_id = stage.get("deploymentId")
        try:
            dep = self.clients.apigateway.get_deployment(restApiId=self.settings.rest_api_id, deploymentId=dep_id,
                                                   embed=["apisummary"])
        except ClientError:
            dep = {}
        summary = dep.get("apiSummary")
        missing = [p for p in route_paths(spec.path) if summary and p not in summary]
        if missing:
            return Check(link, False, f"deployment {dep_id} lacks {', '.join(missing)}",
                         f"run `portico reconcile --service {service}` (it deploys {self.settings.stage})")
        mine = snap.deploys.get(self.settings.stage) or {}
        if mine.get("pending"):
            return Check(link, False, f"API changes are waiting for a deployment (stage at {dep_id})",
                         f"run `portico reconcile` (it deploys {self.settings.stage})")
        if mine.get("deploymentId") and mine["deploymentId"] != dep_id:
            return Check(link, False, f"the stage points at {dep_id}, not portico's last deployment "
                                      f"{mine['deploymentId']}",
                         f"`portico history --stage {self.settings.stage}`; run `portico reconcile` to deploy again")
        if summary:
            return Check(link, True, f"deployment {dep_id} serves {spec.path}")
        return Check(link, True, f"deployment {dep_id} is portico's latest, made after the route's API changes")

def _registering(link: str, healthy: int, total: int, hc: str, check: HealthCheck,
                 item: dict[str, Any] | None) -> Check:
    """Targets still `initial`: the load balancer is registering them or running their first checks. Nothing
    says the container is wrong yet; the entry's last status change (`reconciledAt`) dates the registration."""
    since = time.time() - float((item or {}).get("reconciledAt") or time.time())
    left = int(check.first_healthy_seconds - since)
    if left > 0:
        detail = f"registering, first check in {left} s"
        fix = f"wait {left} s and run doctor again: the load balancer is checking the new targets"
    else:
        detail = f"registering for {int(since)} s, past the {check.first_healthy_seconds} s the health check needs"
        fix = ("wait: an NLB can take a few minutes to register a target "
               "(https://docs.aws.amazon.com/elasticloadbalancing/latest/network/target-group-health-checks.html); "
               "once a target is `unhealthy`, doctor names AWS's reason")
    return Check(link, healthy > 0, f"{healthy}/{total} healthy, {total - healthy} {detail} ({hc})",
                 "" if healthy else fix)


def _short(arn: str | None) -> str:
    if not arn:
        return "—"
    tail = arn.split(":")[-1]
    return "/".join(tail.split("/")[1:3]) if "/" in tail else tail
