"""Elastic Load Balancing v2 rules moto does not enforce and portico relies on, enforced as AWS does.

- CreateListener / ModifyListener on a port the load balancer already listens on: moto compares the port
  with its listeners' ARNs, so it never matches; AWS refuses with `DuplicateListener` (400, "A listener
  with the specified port already exists.").
- CreateRule past the rules-per-Application-Load-Balancer quota (100 non-default rules over all the ALB's
  listeners, `PORTICO_EMULATOR_RULES_PER_LOAD_BALANCER`): moto accepts any number; AWS refuses with
  `TooManyRules` (400, "You've reached the limit on the number of rules per load balancer.";
  https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html, "Rules per
  Application Load Balancer (excluding default rules)").
- CreateListener past the listeners-per-load-balancer quota (50, `PORTICO_EMULATOR_LISTENERS_PER_LOAD_BALANCER`):
  moto accepts any number; AWS refuses with `TooManyListeners` (400, "You've reached the limit on the number
  of listeners per load balancer.").

Sources: the error shapes and messages of botocore's elbv2 service model (DuplicateListenerException,
TooManyListenersException, both `senderFault`, HTTP 400); the quota:
https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-limits.html
"""

from __future__ import annotations

from . import limit, wrap

LISTENERS = "PORTICO_EMULATOR_LISTENERS_PER_LOAD_BALANCER"
RULES = "PORTICO_EMULATOR_RULES_PER_LOAD_BALANCER"


def _ports_in_use(balancer, but: str | None = None) -> set[int]:
    return {int(li.port) for arn, li in balancer.listeners.items() if arn != but and li.port is not None}


def _create_listener(create_listener):
    def wrapper(self, load_balancer_arn, protocol, port, *args, **kwargs):
        from moto.elbv2.exceptions import DuplicateListenerError, ELBClientError

        balancer = self.load_balancers.get(load_balancer_arn)
        if balancer is not None:
            if port is not None and int(port) in _ports_in_use(balancer):
                raise DuplicateListenerError()
            if len(balancer.listeners) >= limit(LISTENERS, 50):
                raise ELBClientError("TooManyListeners",
                                     "You've reached the limit on the number of listeners per load balancer.")
        return create_listener(self, load_balancer_arn, protocol, port, *args, **kwargs)

    return wrapper


def _modify_listener(modify_listener):
    def wrapper(self, arn, port=None, *args, **kwargs):
        from moto.elbv2.exceptions import DuplicateListenerError

        if port is not None:
            balancer = next((lb for lb in self.load_balancers.values() if arn in lb.listeners), None)
            if balancer is not None and int(port) in _ports_in_use(balancer, but=arn):
                raise DuplicateListenerError()
        return modify_listener(self, arn, port, *args, **kwargs)

    return wrapper


def _create_rule(create_rule):
    def wrapper(self, listener_arn, *args, **kwargs):
        from moto.elbv2.exceptions import ELBClientError

        balancer = next((lb for lb in self.load_balancers.values() if listener_arn in lb.listeners), None)
        if balancer is not None:
            rules = sum(1 for li in balancer.listeners.values() for r in li.rules.values() if not r.is_default)
            if rules >= limit(RULES, 100):
                raise ELBClientError("TooManyRules", "You've reached the limit on the number of rules per load "
                                                     "balancer.")
        return create_rule(self, listener_arn, *args, **kwargs)

    return wrapper


def install() -> None:
    from moto.elbv2.models import ELBv2Backend

    wrap(ELBv2Backend, "create_listener", _create_listener)
    wrap(ELBv2Backend, "modify_listener", _modify_listener)
    wrap(ELBv2Backend, "create_rule", _create_rule)
