"""Every setting portico reads, in one place.

Precedence: explicit argument > environment variable > default. The template's function environment,
`.portico/local.env` and the README use exactly these names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

# Environment variable names (the contract with template.yaml and .portico/local.env).
REGISTRY_TABLE = "PORTICO_REGISTRY_TABLE"
STATE_TABLE = "PORTICO_STATE_TABLE"
REST_API_ID = "PORTICO_REST_API_ID"
STAGE = "PORTICO_STAGE"
STAGES = "PORTICO_STAGES"
DOMAINS = "PORTICO_DOMAINS"  # the stages' custom domain names: stage=domain, comma-separated (template DomainNames)
LOAD_BALANCER_ARNS = "PORTICO_LOAD_BALANCER_ARNS"
VPC_LINK_IDS = "PORTICO_VPC_LINK_IDS"
VPC_LINK_V2_ID = "PORTICO_VPC_LINK_V2_ID"
VPC_LINK_VERSION = "PORTICO_VPC_LINK_VERSION"
VPC_ID = "PORTICO_VPC_ID"
BACKEND = "PORTICO_BACKEND"
ALB_LISTENER_ARN = "PORTICO_ALB_LISTENER_ARN"
PORT_RANGE = "PORTICO_PORT_RANGE"
STACK = "PORTICO_STACK"
DEFAULT_AUTH = "PORTICO_DEFAULT_AUTH"
ALLOW_UNAUTHENTICATED = "PORTICO_ALLOW_UNAUTHENTICATED"
ALLOWED_CLUSTERS = "PORTICO_ALLOWED_CLUSTERS"
COGNITO_USER_POOL_ARNS = "PORTICO_COGNITO_USER_POOL_ARNS"
ALARM_TOPIC_ARN = "PORTICO_ALARM_TOPIC_ARN"
DEPLOY_INTERVAL = "PORTICO_DEPLOY_INTERVAL_SECONDS"
SWEEP_SECONDS = "PORTICO_SWEEP_SECONDS"
RESOURCES_PER_API = "PORTICO_RESOURCES_PER_API"  # the API's quota "Resources per API" (template ResourcesPerApi)
MAX_LOAD_BALANCERS = "PORTICO_MAX_LOAD_BALANCERS"  # the pool's size portico may grow to (template MaxLoadBalancers)
RULES_PER_LOAD_BALANCER = "PORTICO_RULES_PER_LOAD_BALANCER"  # ALB mode: the account's rules quota (RulesPerAlb)
ENDPOINT_URL = "AWS_ENDPOINT_URL"  # boto3's own name: points every client at the local emulator
REGION = "AWS_REGION"

ENV_NAMES = (
    REGISTRY_TABLE, STATE_TABLE, REST_API_ID, STAGE, STAGES, DOMAINS, LOAD_BALANCER_ARNS, VPC_LINK_IDS, VPC_LINK_V2_ID,
    VPC_LINK_VERSION, VPC_ID, BACKEND, ALB_LISTENER_ARN,
    PORT_RANGE, STACK, DEFAULT_AUTH, ALLOW_UNAUTHENTICATED, ALLOWED_CLUSTERS, COGNITO_USER_POOL_ARNS,
    ALARM_TOPIC_ARN, DEPLOY_INTERVAL, RESOURCES_PER_API, MAX_LOAD_BALANCERS, RULES_PER_LOAD_BALANCER,
)

# AWS quota "Listeners per Network Load Balancer", 50, not adjustable:
# https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-limits.html
LISTENERS_PER_NLB = 50
# "Target Groups per Application Load Balancer", 100, not adjustable (same page as the rules quota below): a
# service's rule forwards to its own target group, so an ALB holds at most 100 services whatever its rules quota.
TARGET_GROUPS_PER_ALB = 100
SERVICE_HEADER = "x-portico-service"  # ALB mode: the header each integration sets, each listener rule matches


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _pairs(value: str | None) -> tuple[tuple[str, str], ...]:
    out = []
    for part in _csv(value):
        stage, sep, domain = part.partition("=")
        if not (sep and stage.strip() and domain.strip()):
            raise ValueError(f"{DOMAINS}={value!r}: expected stage=domain pairs, e.g. prod=api.example.com")
        out.append((stage.strip(), domain.strip().lower()))
    return tuple(out)


def _range(value: str) -> tuple[int, int]:
    low, _, high = value.partition("-")
    try:
        lo, hi = int(low), int(high or low)
    except ValueError:
        raise ValueError(f"{PORT_RANGE}={value!r}: expected LOW-HIGH, e.g. 10000-10999") from None
    if not 1 <= lo <= hi <= 65535:
        raise ValueError(f"{PORT_RANGE}={value!r}: need 1 <= LOW <= HIGH <= 65535")
    return lo, hi


@dataclass(frozen=True)
class Settings:
    registry_table: str = "portico-registry"
    state_table: str = "portico-state"
    rest_api_id: str = ""
    stage: str = "dev"
    stages: tuple[str, ...] = ("dev",)
    domains: tuple[tuple[str, str], ...] = ()  # (stage, custom domain name): where that stage is served
    load_balancer_arns: tuple[str, ...] = ()
    vpc_link_ids: tuple[str, ...] = ()  # v1: one per NLB, in the order of load_balancer_arns
    vpc_link_v2_id: str = ""  # v2: one link for every NLB; each integration names its NLB (integrationTarget)
    vpc_link_version: str = ""  # the links integrations use: "v1" or "v2"; "" = v2 when a v2 link is set
    vpc_id: str = ""
    backend: str = "nlb"  # "nlb": a listener port per service; "alb": a listener rule per service on one ALB
    alb_listener_arn: str = ""  # "alb": the HTTP listener (the template's) that holds portico's rules
    port_range: tuple[int, int] = (10000, 10999)
    stack: str = "portico"
    default_auth: str = "API_KEY"
    allow_unauthenticated: bool = False
    allowed_clusters: tuple[str, ...] = ()
    cognito_user_pool_arns: tuple[str, ...] = ()
    alarm_topic_arn: str = ""
    deploy_interval_seconds: float = 5.0  # CreateDeployment: 1 per 5 s per account
    sweep_seconds: float = 900.0  # the sweeper's schedule period: the window of an ECS attachment's repairs in a row
    # API Gateway "Resources per API", 300 by default and raised per API in Service Quotas (the root counts):
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html
    resources_per_api: int = 300
    # The pool's largest size: portico adds load balancers past the configured ones up to it (kinds/load_balancer.py;
    # a VPC link v2 only). 0: the configured pool, never grown.
    max_load_balancers: int = 0
    # ALB mode: "Rules per Application Load Balancer" (default rules excluded), 100 by default and adjustable:
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html
    rules_per_load_balancer: int = 100
    endpoint_url: str | None = None
    region: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> Settings:
        env = os.environ if env is None else env
        d = cls()
        stage = env.get(STAGE) or d.stage
        values = dict(
            registry_table=env.get(REGISTRY_TABLE) or d.registry_table,
            state_table=env.get(STATE_TABLE) or d.state_table,
            rest_api_id=env.get(REST_API_ID, ""),
            stage=stage,
            stages=_csv(env.get(STAGES)) or (stage,),
            domains=_pairs(env.get(DOMAINS)),
            load_balancer_arns=_csv(env.get(LOAD_BALANCER_ARNS)),
            vpc_link_ids=_csv(env.get(VPC_LINK_IDS)),
            vpc_link_v2_id=env.get(VPC_LINK_V2_ID, ""),
            vpc_link_version=(env.get(VPC_LINK_VERSION) or "").lower(),
            vpc_id=env.get(VPC_ID, ""),
            backend=(env.get(BACKEND) or d.backend).lower(),
            alb_listener_arn=env.get(ALB_LISTENER_ARN, ""),
            port_range=_range(env[PORT_RANGE]) if env.get(PORT_RANGE) else d.port_range,
            stack=env.get(STACK) or d.stack,
            default_auth=(env.get(DEFAULT_AUTH) or d.default_auth).upper(),
            allow_unauthenticated=_bool(env.get(ALLOW_UNAUTHENTICATED)),
            allowed_clusters=_csv(env.get(ALLOWED_CLUSTERS)),
            cognito_user_pool_arns=_csv(env.get(COGNITO_USER_POOL_ARNS)),
            alarm_topic_arn=env.get(ALARM_TOPIC_ARN, ""),
            deploy_interval_seconds=float(env.get(DEPLOY_INTERVAL) or d.deploy_interval_seconds),
            sweep_seconds=float(env.get(SWEEP_SECONDS) or d.sweep_seconds),
            resources_per_api=int(env.get(RESOURCES_PER_API) or d.resources_per_api),
            max_load_balancers=int(env.get(MAX_LOAD_BALANCERS) or d.max_load_balancers),
            rules_per_load_balancer=int(env.get(RULES_PER_LOAD_BALANCER) or d.rules_per_load_balancer),
            endpoint_url=env.get(ENDPOINT_URL) or None,
            region=env.get(REGION) or env.get("AWS_DEFAULT_REGION") or None,
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)

    @property
    def link_version(self) -> str:
        return self.vpc_link_version or ("v2" if self.vpc_link_v2_id else "v1")

    def links(self, version: str | None = None, members: tuple[str, ...] = ()) -> dict[str, tuple[str, str | None]]:
        """Each NLB's private integration: (connectionId, integrationTarget). A VPC link v1 targets its NLB
        itself; the one v2 link reaches every NLB, named on the integration
        (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-private-integration.html), the
        configured ones and `members`, the ones portico added to the pool (a v1 pool never grows)."""
        if (version or self.link_version) == "v2":
            return {lb: (self.vpc_link_v2_id, lb) for lb in (*self.load_balancer_arns, *members)}
        return {lb: (link, None) for lb, link in zip(self.load_balancer_arns, self.vpc_link_ids, strict=True)}

    @property
    def services_per_load_balancer(self) -> int:
        """What one load balancer of the pool holds: an NLB's listeners; an ALB's rules (RulesPerAlb), at most
        its target groups."""
        return min(self.rules_per_load_balancer, TARGET_GROUPS_PER_ALB) if self.backend == "alb" else LISTENERS_PER_NLB

    @property
    def pool_size(self) -> int:
        """How many load balancers the pool may hold: the configured ones, and up to MaxLoadBalancers on a v2 link
        (a VPC link v1 targets one NLB, and a new one takes minutes to create: a v1 pool is the configured one)."""
        grown = self.max_load_balancers if self.link_version == "v2" else 0
        return max(len(self.load_balancer_arns), grown)

    def check(self) -> Settings:
        """Fail fast, naming the variable, when the shared infrastructure is not configured."""
        if self.link_version not in ("v1", "v2"):
            raise ValueError(f"{VPC_LINK_VERSION}={self.vpc_link_version!r} must be v1 or v2")
        link = (VPC_LINK_V2_ID, self.vpc_link_v2_id) if self.link_version == "v2" else (VPC_LINK_IDS, self.vpc_link_ids)
        missing = [name for name, value in (
            (REST_API_ID, self.rest_api_id), (LOAD_BALANCER_ARNS, self.load_balancer_arns),
            link, (VPC_ID, self.vpc_id)) if not value]
        if missing:
            raise ValueError(f"portico is not configured: set {', '.join(missing)}")
        if self.vpc_link_ids and len(self.load_balancer_arns) != len(self.vpc_link_ids):
            raise ValueError(f"{LOAD_BALANCER_ARNS} and {VPC_LINK_IDS} must pair up one to one "
                             f"({len(self.load_balancer_arns)} vs {len(self.vpc_link_ids)})")
        if self.backend not in ("nlb", "alb"):
            raise ValueError(f"{BACKEND}={self.backend!r} must be nlb or alb")
        if self.backend == "alb":
            if self.link_version != "v2":
                raise ValueError(f"{BACKEND}=alb needs the VPC link v2 ({VPC_LINK_VERSION}=v2): a v1 link reaches "
                                 "only an NLB")
            if len(self.load_balancer_arns) != 1 or not self.alb_listener_arn:
                raise ValueError(f"{BACKEND}=alb needs exactly one load balancer in {LOAD_BALANCER_ARNS} (the ALB) "
                                 f"and its listener in {ALB_LISTENER_ARN}")
        if self.max_load_balancers < 0 or self.rules_per_load_balancer < 1:
            raise ValueError(f"{MAX_LOAD_BALANCERS}={self.max_load_balancers} must be >= 0 and "
                             f"{RULES_PER_LOAD_BALANCER}={self.rules_per_load_balancer} >= 1")
        if self.stage not in self.stages:
            raise ValueError(f"{STAGE}={self.stage!r} must be one of {STAGES}={','.join(self.stages)}")
        for stage, _ in self.domains:
            if stage not in self.stages:
                raise ValueError(f"{DOMAINS}: stage {stage!r} must be one of {STAGES}={','.join(self.stages)} "
                                 "(the template's DomainNames names stages of StageNames)")
        return self

    def domain(self, stage: str) -> str | None:
        """The custom domain name `stage` is served at, if it has one."""
        return dict(self.domains).get(stage)

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings (used for .portico/local.env)."""
        out = {
            REGISTRY_TABLE: self.registry_table, STATE_TABLE: self.state_table,
            REST_API_ID: self.rest_api_id, STAGE: self.stage, STAGES: ",".join(self.stages),
            DOMAINS: ",".join(f"{stage}={domain}" for stage, domain in self.domains),
            LOAD_BALANCER_ARNS: ",".join(self.load_balancer_arns), VPC_LINK_IDS: ",".join(self.vpc_link_ids),
            VPC_LINK_V2_ID: self.vpc_link_v2_id, VPC_LINK_VERSION: self.vpc_link_version,
            VPC_ID: self.vpc_id, BACKEND: self.backend, ALB_LISTENER_ARN: self.alb_listener_arn,
            PORT_RANGE: f"{self.port_range[0]}-{self.port_range[1]}",
            STACK: self.stack, DEFAULT_AUTH: self.default_auth,
            ALLOW_UNAUTHENTICATED: str(self.allow_unauthenticated).lower(),
            ALLOWED_CLUSTERS: ",".join(self.allowed_clusters),
            COGNITO_USER_POOL_ARNS: ",".join(self.cognito_user_pool_arns),
            ALARM_TOPIC_ARN: self.alarm_topic_arn, DEPLOY_INTERVAL: str(self.deploy_interval_seconds),
            SWEEP_SECONDS: str(self.sweep_seconds), RESOURCES_PER_API: str(self.resources_per_api),
            MAX_LOAD_BALANCERS: str(self.max_load_balancers),
            RULES_PER_LOAD_BALANCER: str(self.rules_per_load_balancer),
        }
        if self.endpoint_url:
            out[ENDPOINT_URL] = self.endpoint_url
        if self.region:
            out[REGION] = self.region
        return out

