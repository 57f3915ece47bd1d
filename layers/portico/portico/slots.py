"""The slot a service takes on the load balancer: a listener port on an NLB of the pool (NLB mode), or a rule
priority on the ALB's listener (ALB mode). Pure: chosen from what is observed and reserved, by one rule each,
which the planner and the CloudFormation front-end (`Custom::ListenerPort`) share.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass

from .observed import Listener, LoadBalancer, Observed
from .settings import LISTENERS_PER_NLB, RULES_PER_ALB, SERVICE_HEADER, Settings
from .spec import SpecError


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
    """The ports of each load balancer of the pool that exists, in the pool's order."""
    for arn in settings.load_balancer_arns:
        lb = observed.load_balancers.get(arn)
        if lb is not None:
            yield arn, LoadBalancerPorts({p: o for (a, p), o in observed.state.ports.items() if a == arn},
                                         frozenset(lb.listeners))


def choose_port(service: str, observed: Observed, settings: Settings) -> tuple[str, int]:
    """The service's reserved (load balancer, port), or the first free one: lowest NLB with room, lowest port.
    A reserved port lost to a listener portico did not make for the service (made by anyone between the plan
    and the create) is given up: another one is chosen, and the reservation moves there."""
    ledger = observed.state.ledgers.get(service)
    if ledger and ledger.load_balancer in observed.load_balancers and ledger.port and \
            observed.state.ports.get((ledger.load_balancer, ledger.port)) == service:
        listener = observed.load_balancers[ledger.load_balancer].listeners.get(ledger.port)
        mine = {arn for arn in observed.ledger_target_groups(ledger).values() if arn}
        if listener is None or listener.arn == ledger.listener_arn or \
                (listener.target_group_arns and set(listener.target_group_arns) <= mine):
            return ledger.load_balancer, ledger.port
    lo, hi = settings.port_range
    for arn, ports in pool_ports(observed, settings):
        if not ports.has_room:
            continue  # a full load balancer: no port of the range can be free
        for port in range(lo, hi + 1):
            if ports.port_is_free(port):
                return arn, port
    raise SpecError("listenerPort", f"no free listener port: every port in {lo}-{hi} is taken or every load "
                                    f"balancer has {LISTENERS_PER_NLB} listeners; widen PortRange or add a "
                                    "load balancer to the pool")


def alb_listener(observed: Observed, settings: Settings) -> tuple[LoadBalancer, Listener]:
    """The ALB listener portico's rules go on, as observed (SpecError when it is missing)."""
    lb = observed.load_balancers.get(settings.load_balancer_arns[0]) if settings.load_balancer_arns else None
    listener = next((li for li in (lb.listeners.values() if lb else ()) if li.arn == settings.alb_listener_arn), None)
    if listener is None:
        raise SpecError("backend", f"the ALB listener {settings.alb_listener_arn} was not found on load balancer "
                                   f"{settings.load_balancer_arns[:1]}; check PORTICO_ALB_LISTENER_ARN")
    return lb, listener


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


def choose_priority(service: str, observed: Observed, settings: Settings) -> int:
    """The service's reserved rule priority, or the lowest one free: no reservation holds it and no rule
    (portico's or anyone's) has it, while the ALB has room under RULES_PER_ALB (every listener's rules count)."""
    lb, listener = alb_listener(observed, settings)
    ledger, held = observed.state.ledgers.get(service), observed.state.priorities
    if ledger and ledger.priority and held.get((listener.arn, ledger.priority)) == service:
        there = [r for r in listener.rules.values() if r.priority == ledger.priority]
        if all(r.arn == ledger.rule_arn or r.conditions == rule_conditions(service, observed.state.header_secret)
               for r in there):
            return ledger.priority  # else lost to a rule made by anyone else: choose another, as for a port
    taken = {p for (arn, p) in held if arn == listener.arn} | {r.priority for r in listener.rules.values()}
    others = sum(len(li.rules) for li in lb.listeners.values() if li.arn != listener.arn)
    if len(taken) + others >= RULES_PER_ALB:
        raise SpecError("listenerRule", f"the ALB already has {len(taken) + others} rules or reservations, AWS's "
                                        f"quota \"Rules per Application Load Balancer\" ({RULES_PER_ALB}, default "
                                        "rules excluded); offboard a service or raise the quota")
    return next(p for p in range(1, 50001) if p not in taken)
