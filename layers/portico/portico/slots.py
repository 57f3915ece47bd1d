"""The slot a service takes on the pool: a listener port on an NLB (NLB mode), or a rule priority on an ALB's
listener (ALB mode). Pure: chosen from what is observed and reserved, by one rule each, which the planner and
the CloudFormation front-end (`Custom::ListenerPort`) share. A full pool grows (kinds/load_balancer.py): the
service waits for the load balancer being added (`Waiting`), up to MaxLoadBalancers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass

from .observed import Listener, LoadBalancer, Observed
from .settings import LISTENERS_PER_NLB, SERVICE_HEADER, Settings
from .spec import SpecError


class Waiting(SpecError):
    """No load balancer of the pool has room for the service yet, and the pool grows (kinds/load_balancer.py):
    the service waits, PENDING, for the load balancer being added. Not the user's to fix."""

    def __init__(self, message: str):
        super().__init__("loadBalancer", message)


def members(observed: Observed) -> list[dict]:
    """The load balancers portico added to the pool (state `pool#`), in the order they were added."""
    return sorted(observed.state.pool.values(), key=lambda m: int(m["index"]))


def pool(observed: Observed, settings: Settings) -> list[LoadBalancer]:
    """The pool's active load balancers, in order: the configured ones, then the ones portico added."""
    arns = [*settings.load_balancer_arns, *(m.get("arn") for m in members(observed))]
    return [lb for lb in (observed.load_balancers.get(arn or "") for arn in arns) if lb and lb.state == "active"]


def pool_full(observed: Observed, settings: Settings, field: str, quota: str) -> SpecError:
    """Every load balancer of the pool is full: Waiting while portico adds one (up to MaxLoadBalancers), else the
    quota and the fix."""
    made = members(observed)
    adding = any(m.get("arn") not in observed.load_balancers or observed.load_balancers[m["arn"]].state != "active"
                 for m in made)
    if settings.link_version == "v2" and (adding or len(settings.load_balancer_arns) + len(made) < settings.pool_size):
        return Waiting(f"load balancer provisioning: every load balancer of the pool has {quota}; portico is "
                       f"adding one (MaxLoadBalancers {settings.pool_size})")
    count = len(settings.load_balancer_arns) + len(made)
    if settings.link_version == "v2":
        return SpecError(field, f"every load balancer of the pool ({count} of MaxLoadBalancers {settings.pool_size}) "
                                f"has {quota}; raise MaxLoadBalancers (and the account's load balancers per Region "
                                "quota, 50 by default), or offboard a service")
    return SpecError(field, f"every NLB of the pool ({count}, a VPC link v1 each) has {quota}; a pool on VPC links v1 "
                            "does not grow (a v1 link reaches one NLB and takes minutes to create): move the stack to "
                            "the VPC link v2 (portico migrate-link), or offboard a service")


@dataclass(frozen=True)
class LoadBalancerPorts:
    """One load balancer's listener ports as portico sees them: the reservations and the listeners."""

    reserved: dict[int, str]  # port -> holder (a service, or a stack's Custom::ListenerPort)
    listening: frozenset[int]

    @property
    def has_room(self) -> bool:
        return len(self.reserved.keys() | self.listening) < LISTENERS_PER_NLB

    def why_not_free(self, port: int) -> str | None:
        """None when `port` is free: no reservation holds it, no listener (portico's or anyone's) uses it,
        and the load balancer has room for one more listener. Else why not, for the user."""
        if port in self.reserved:
            return f"{port} is already reserved by {self.reserved[port]}"
        if port in self.listening:
            return f"{port} is used by a listener on the load balancer"
        if not self.has_room:
            return f"the load balancer already has {LISTENERS_PER_NLB} listeners or reservations"
        return None

    def port_is_free(self, port: int) -> bool:
        return self.why_not_free(port) is None


def pool_ports(observed: Observed, settings: Settings) -> Iterator[tuple[str, LoadBalancerPorts]]:
    """The ports of each active load balancer of the pool, in the pool's order."""
    for lb in pool(observed, settings):
        yield lb.arn, LoadBalancerPorts({p: o for (a, p), o in observed.state.ports.items() if a == lb.arn},
                                        frozenset(lb.listeners))


def choose_port(service: str, observed: Observed, settings: Settings) -> tuple[str, int]:
    """The service's reserved (load balancer, port), or the first free one: lowest NLB with room, lowest port.
    A reserved port lost to a listener portico did not make for the service (made by anyone between the plan
    and the create) is given up: another one is chosen, and the reservation moves there. Every NLB full:
    `pool_full` (Waiting while the pool grows)."""
    ledger = observed.state.ledgers.get(service)
    if ledger and ledger.load_balancer in observed.load_balancers and ledger.port and \
            observed.state.ports.get((ledger.load_balancer, ledger.port)) == service:
        listener = observed.load_balancers[ledger.load_balancer].listeners.get(ledger.port)
        mine = {arn for arn in observed.ledger_target_groups(ledger).values() if arn}
        if listener is None or listener.arn == ledger.listener_arn or \
                (listener.target_group_arns and set(listener.target_group_arns) <= mine):
            return ledger.load_balancer, ledger.port
    lo, hi = settings.port_range
    roomy = [(arn, ports) for arn, ports in pool_ports(observed, settings) if ports.has_room]
    for arn, ports in roomy:
        for port in range(lo, hi + 1):
            if ports.port_is_free(port):
                return arn, port
    if not roomy:
        raise pool_full(observed, settings, "listenerPort", f"{LISTENERS_PER_NLB} listeners, AWS's quota \"Listeners "
                                                            "per Network Load Balancer\" (not adjustable)")
    raise SpecError("listenerPort", f"no free listener port: every port in {lo}-{hi} is taken on the load "
                                    "balancers with room for a listener; widen PortRange")


def alb_listeners(observed: Observed, settings: Settings) -> list[tuple[LoadBalancer, Listener]]:
    """The ALB listeners portico's rules go on, one per active ALB of the pool: the configured one
    (PORTICO_ALB_LISTENER_ARN), then each added ALB's. SpecError when the configured one is missing."""
    wanted = {settings.alb_listener_arn, *(m.get("listenerArn") for m in members(observed))}
    out = [(lb, li) for lb in pool(observed, settings) for li in lb.listeners.values() if li.arn in wanted]
    if not out or out[0][1].arn != settings.alb_listener_arn:
        raise SpecError("backend", f"the ALB listener {settings.alb_listener_arn} was not found on load balancer "
                                   f"{settings.load_balancer_arns[:1]}; check PORTICO_ALB_LISTENER_ARN")
    return out


def header_value(service: str, secret: str | None) -> str:
    """ALB mode's SERVICE_HEADER value for `service`: its name and a token only the stack can compute, an HMAC of
    the name under the stack's secret (the state table's `secret#header`). A caller who sends the header itself
    cannot pick another service's rule, whether API Gateway replaces a client's header of that name or sends
    both (AWS documents neither, docs/modes.md); a service, which sees its own value, cannot derive another's.
    Lowercase hex: an ALB compares header values without regard to case."""
    if not secret:
        raise ValueError("ALB mode needs the stack's header secret (state table item secret#header)")
    return f"{service}.{hmac.new(secret.encode(), service.encode(), hashlib.sha256).hexdigest()[:32]}"


def rule_conditions(service: str, secret: str | None) -> tuple:
    """The conditions of the service's listener rule, as observed: its integrations' SERVICE_HEADER value."""
    return (("http-header", SERVICE_HEADER, (header_value(service, secret),)),)


def choose_priority(service: str, observed: Observed, settings: Settings) -> tuple[LoadBalancer, Listener, int]:
    """The service's reserved rule (ALB, listener, priority), or the lowest priority free on the first ALB of the
    pool with room: no reservation holds it and no rule (portico's or anyone's) has it, while the ALB has fewer
    than RulesPerAlb rules (every listener's count). Every ALB full: `pool_full` (Waiting while the pool grows)."""
    ledger, held = observed.state.ledgers.get(service), observed.state.priorities
    listeners = alb_listeners(observed, settings)
    for lb, listener in listeners:
        if ledger and ledger.priority and held.get((listener.arn, ledger.priority)) == service:
            there = [r for r in listener.rules.values() if r.priority == ledger.priority]
            if all(r.arn == ledger.rule_arn or r.conditions == rule_conditions(service, observed.state.header_secret)
                   for r in there):
                return lb, listener, ledger.priority  # else lost to a rule made by anyone else: choose another
    for lb, listener in listeners:
        taken = {p for (arn, p) in held if arn == listener.arn} | {r.priority for r in listener.rules.values()}
        others = sum(len(li.rules) for li in lb.listeners.values() if li.arn != listener.arn)
        if len(taken) + others < settings.services_per_load_balancer:
            return lb, listener, next(p for p in range(1, 50001) if p not in taken)
    raise pool_full(observed, settings, "listenerRule", f"{settings.services_per_load_balancer} rules or "
                                                        "reservations, the account's quota \"Rules per Application "
                                                        "Load Balancer\" (RulesPerAlb; AWS's default 100, default "
                                                        "rules excluded; 100 target groups per ALB, not adjustable)")
