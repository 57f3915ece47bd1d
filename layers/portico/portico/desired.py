"""Desired state: what AWS should look like for one valid spec, given what is observed. Pure.

Also the checks that need AWS facts (the ECS service exists, the container listens on the port, the
path and port are free), so a spec that cannot be served fails here, before any write.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from .observed import LoadBalancer, Observed, ecs_key
from .settings import SERVICE_HEADER, Settings
from .slots import choose_port, choose_priority, header_value
from .spec import ServiceSpec, SpecError, overlap, route_paths

MAX_TARGET_GROUPS_PER_ECS_SERVICE = 5


EMPTY = "''"  # a static mapping value is quoted; this one is the empty string


@dataclass(frozen=True)
class MethodSpec:
    authorization: str
    api_key_required: bool
    authorizer_id: str | None
    uri: str
    connection_id: str
    proxy: bool
    integration_target: str | None = None  # the NLB, on a VPC link v2
    cached: bool = False  # the service has a stage cache TTL
    service_header: str | None = None  # ALB mode: SERVICE_HEADER's value (slots.header_value), its rule's match

    def cache_key_parameters(self) -> list[str]:
        """A cached {proxy+} route must key its cache on the proxy path: API Gateway's cache key is the resource
        path plus only the parameters listed here, so without it every path under the route shares one entry.
        https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-caching.html#enable-api-gateway-cache-keys"""
        return ["method.request.path.proxy"] if self.proxy and self.cached else []

    def method_request_parameters(self) -> dict[str, bool]:
        return {"method.request.path.proxy": True} if self.proxy else {}

    def integration_request_parameters(self) -> dict[str, str]:
        """`{proxy}` from the method's path (the service sees its path without the prefix); in ALB mode also
        SERVICE_HEADER, a static value (quoted), which picks the service's listener rule.

        On a VPC link v2 the route's own resource (`{path}`, no path variable) maps `{proxy}` too, to the static
        empty value: API Gateway puts the stage in front of a private integration's path unless a parameter
        mapping sets the path, so every v2 integration's path comes from a mapping (docs/modes.md, "The stage
        and the path the service sees")."""
        out = {"integration.request.path.proxy": "method.request.path.proxy" if self.proxy else EMPTY} \
            if self.proxy or self.integration_target else {}
        if self.service_header:
            out[f"integration.request.header.{SERVICE_HEADER}"] = f"'{self.service_header}'"
        return out


@dataclass(frozen=True)
class DesiredService:
    spec: ServiceSpec
    load_balancer: str
    dns: str
    vpc_link: str
    port: int
    target_group_name: str
    target_type: str
    container_name: str | None  # None: the one container that maps the port, found by apply (check_container)
    ecs_key: str
    ancestors: tuple[str, ...]
    resources: dict[str, dict[str, MethodSpec]] = field(default_factory=dict)  # path -> verb -> method
    priority: int | None = None  # ALB mode: the rule priority reserved on `listener_arn` (no port is reserved)
    listener_arn: str | None = None  # ALB mode: the ALB listener that holds the service's rule

    @property
    def service(self) -> str:
        return self.spec.service

    @property
    def health(self) -> tuple[str, str | None]:
        if self.priority is not None:  # an ALB's target group is HTTP: its health check is too
            return "HTTP", self.spec.health_check_path or "/"
        return ("HTTP", self.spec.health_check_path) if self.spec.health_check_path else ("TCP", None)


def target_group_name(stack: str, service: str, container_port: int, target_type: str, protocol: str = "TCP") -> str:
    """≤ 32 chars of [A-Za-z0-9-], unique per account+region: readable prefix plus a short hash.

    The hash covers what a target group cannot change in place (port, target type, protocol: HTTP for an
    ALB), so such a change yields a new name and a clean create-switch-delete replacement.
    """
    key = f"{stack}/{service}/{container_port}/{target_type}" + ("" if protocol == "TCP" else f"/{protocol}")
    digest = hashlib.sha1(key.encode()).hexdigest()[:6]
    base = "".join(c if c.isalnum() or c == "-" else "-" for c in f"{stack}-{service}")[:25].strip("-")
    return f"{base}-{digest}"


def ancestors_of(path: str) -> tuple[str, ...]:
    parts = path.strip("/").split("/")
    return tuple("/" + "/".join(parts[:i]) for i in range(1, len(parts)))


def invoke_url(rest_api_id: str, region: str, stage: str, path: str, domain: str | None = None) -> str:
    """Where `path` is served on `stage`: its custom domain name when it has one (a routing rule sends the
    whole domain to the stage, so no stage in the path), else the API's default execute-api endpoint."""
    if domain:
        return f"https://{domain}{path}"
    return f"https://{rest_api_id}.execute-api.{region}.amazonaws.com/{stage}{path}"


def _authorization(spec: ServiceSpec, observed: Observed) -> tuple[str, bool, str | None]:
    if spec.auth == "API_KEY":
        return "NONE", True, None
    if spec.auth == "IAM":
        return "AWS_IAM", False, None
    if spec.auth == "COGNITO":
        if not observed.cognito_authorizer:
            raise SpecError("auth", "COGNITO needs the stack's Cognito authorizer; deploy portico with the "
                                    "CognitoUserPoolArns parameter set, or choose API_KEY or IAM")
        return "COGNITO_USER_POOLS", False, observed.cognito_authorizer
    return "NONE", False, None


def container_for(name: str | None, port: int, containers: dict[str, set[int]], task_definition: str) -> str:
    """The container of `task_definition` (its containers' ports by name) the target group routes to: `name`
    when given, which must map `port`, else the one container that maps it. SpecError names the field."""
    td = task_definition.rsplit("/", 1)[-1]
    if name:
        ports = containers.get(name)
        if ports is None:
            raise SpecError("containerName", f"{name!r} is not a container of task definition {td} "
                                             f"(containers: {', '.join(sorted(containers)) or 'none'})")
        if port not in ports:
            raise SpecError("containerPort", f"container {name!r} does not map port {port} "
                                             f"(it maps {sorted(ports) or 'none'})")
        return name
    matches = [c for c, ports in containers.items() if port in ports]
    if not matches:
        raise SpecError("containerPort", f"no container in task definition {td} maps port {port}")
    if len(matches) > 1:
        raise SpecError("containerName", f"containers {', '.join(sorted(matches))} all map port {port}; "
                                         "set containerName to pick one")
    return matches[0]


def desire(spec: ServiceSpec, observed: Observed, settings: Settings, region: str) -> DesiredService:
    """The DesiredService for `spec`, or SpecError naming what in AWS stops it from being served."""
    _check_path(spec, observed)
    key, container, target_type = _ecs_service(spec, observed)
    alb = settings.backend == "alb"
    tg_name = target_group_name(settings.stack, spec.service, spec.container_port, target_type,
                                "HTTP" if alb else "TCP")
    _check_target_groups(spec, observed, key, tg_name)
    priority = listener_arn = None
    if alb:  # a rule on an ALB's listener (its port in the URI), no port of its own
        lb_obs, listener, priority = choose_priority(spec.service, observed, settings)
        lb_arn, port, listener_arn = lb_obs.arn, listener.port, listener.arn
    else:
        lb_arn, port = choose_port(spec.service, observed, settings)
    lb = observed.load_balancers[lb_arn]
    header = header_value(spec.service, observed.state.header_secret) if alb else None
    return DesiredService(spec=spec, load_balancer=lb_arn, dns=lb.dns, vpc_link=lb.vpc_link, port=port,
                          target_group_name=tg_name, target_type=target_type, container_name=container,
                          ecs_key=key, ancestors=ancestors_of(spec.path),
                          resources=_resources(spec, observed, lb, port, header),
                          priority=priority, listener_arn=listener_arn)


def _check_path(spec: ServiceSpec, observed: Observed) -> None:
    """Path ownership: a resource portico does not own, or equal or nested paths of another service. The
    foreign resource is checked first: it does not depend on which services this pass planned before."""
    ledger = observed.state.ledgers.get(spec.service)
    mine = set(ledger.resources.values()) if ledger else set()
    existing = observed.resources.get(spec.path)
    ours = spec.path in observed.state.paths or spec.path in observed.state.intermediates
    if existing and existing.id not in mine and not ours:
        raise SpecError("path", f"{spec.path} already exists on the REST API and was not created by portico")
    for path, owner in observed.state.paths.items():
        if owner != spec.service and overlap(path, spec.path):
            relation = "is" if path == spec.path else "overlaps"
            raise SpecError("path", f"{spec.path} {relation} {path}, which is owned by service {owner!r}")


def _ecs_service(spec: ServiceSpec, observed: Observed) -> tuple[str, str | None, str]:
    """(ECS key, container, target type) of the spec's ECS service, which must exist on the ECS controller."""
    key = ecs_key(spec.cluster, spec.ecs_service)
    svc = observed.ecs.get(key)
    if svc is None:
        raise SpecError("ecsService", f"ECS service {spec.ecs_service.rsplit('/', 1)[-1]!r} was not found in "
                                      f"cluster {spec.cluster_name!r} (or the cluster does not exist)")
    if svc.controller != "ECS":
        raise SpecError("ecsService", f"{key} uses the {svc.controller} deployment controller; portico can attach "
                                      "target groups only to services on the rolling (ECS) controller")
    # a task definition not read yet (observed.read_ecs) is checked by apply first (kinds/ecs.check_container)
    container = spec.container_name if svc.containers is None else \
        container_for(spec.container_name, spec.container_port, svc.containers, svc.task_definition)
    return key, container, "ip" if svc.network_mode == "awsvpc" else "instance"


def _check_target_groups(spec: ServiceSpec, observed: Observed, key: str, tg_name: str) -> None:
    """The ECS service has room for the service's target group (those portico made for it do not count)."""
    ledger = observed.state.ledgers.get(spec.service)
    ours = set(ledger.target_groups.values()) if ledger else set()
    tg = observed.target_groups.get(tg_name)
    if tg:
        ours.add(tg.arn)
    foreign = [lb for lb in observed.ecs[key].load_balancers if lb.get("targetGroupArn") not in ours]
    if len(foreign) >= MAX_TARGET_GROUPS_PER_ECS_SERVICE:
        raise SpecError("ecsService", f"{key} already has {len(foreign)} target groups, the ECS maximum; "
                                      "detach one before routing it through portico")


def _resources(spec: ServiceSpec, observed: Observed, lb: LoadBalancer, port: int,
               header: str | None) -> dict[str, dict[str, MethodSpec]]:
    """The route and its {proxy+} child, each verb's method integrated with the service's slot on `lb`."""
    authorization, key_required, authorizer = _authorization(spec, observed)
    base = f"http://{lb.dns}:{port}"
    resources = {}
    for path, proxy in zip(route_paths(spec.path), (False, True), strict=True):
        uri = f"{base}/{{proxy}}" if proxy or lb.integration_target else f"{base}/"
        resources[path] = {verb: MethodSpec(authorization, key_required, authorizer, uri, lb.vpc_link, proxy,
                                            lb.integration_target, bool(spec.cache_ttl_seconds), header)
                           for verb in spec.methods}
    return resources
