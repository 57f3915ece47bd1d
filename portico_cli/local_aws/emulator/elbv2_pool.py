"""Elastic Load Balancing v2 rules on load balancers and target groups that moto does not enforce and portico's
growing pool relies on (kinds/load_balancer.py), enforced as AWS does.

- CreateLoadBalancer past the account's load balancers per Region of that type (50 Network, 50 Application;
  `PORTICO_EMULATOR_NETWORK_LOAD_BALANCERS`, `PORTICO_EMULATOR_APPLICATION_LOAD_BALANCERS`): moto accepts any
  number; AWS refuses with `TooManyLoadBalancers` (400, "You've reached the limit on the number of load balancers
  for your Amazon Web Services account.").
  https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-limits.html ("Network Load
  Balancers per Region", 50), https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html
  ("Application Load Balancers per Region", 50)
- CreateLoadBalancer of a name that exists: moto makes a second load balancer of that name (its duplicate check
  compares ARNs, which carry a random id); AWS's is idempotent, "If you attempt to create multiple load balancers
  with the same settings, each call succeeds" (the same load balancer), and refuses other settings with
  `DuplicateLoadBalancerName` (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateLoadBalancer.html).
  The settings compared here are the type and the scheme.
- CreateTargetGroup past "Target Groups per Region" (3,000, shared by ALBs and NLBs;
  `PORTICO_EMULATOR_TARGET_GROUPS`): AWS refuses with `TooManyTargetGroups` (400, "You've reached the limit on the
  number of target groups for your Amazon Web Services account."), the same page as the ALB's.
- DescribeLoadBalancers naming one that does not exist: moto refuses only when it is the first ARN named (it keeps
  the previous ARN's match); AWS refuses the call with `LoadBalancerNotFound` (400, "The specified load balancer
  does not exist.": https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeLoadBalancers.html,
  Errors), whichever ARN it is. portico reads the pool in one call and falls back on that error.
- A new load balancer is `provisioning` for `PORTICO_EMULATOR_LOAD_BALANCER_PROVISIONING_SECONDS` (default 0: moto
  makes it `active` on the first describe); AWS documents no duration (minutes are usual), so a test sets one to
  see a pass wait for it.

Error codes and messages: botocore's elbv2 service model (TooManyLoadBalancersException,
TooManyTargetGroupsException, DuplicateLoadBalancerNameException: `senderFault`, HTTP 400).
"""

from __future__ import annotations

import time

from . import limit, wrap

LOAD_BALANCERS = {"network": "PORTICO_EMULATOR_NETWORK_LOAD_BALANCERS",
                  "application": "PORTICO_EMULATOR_APPLICATION_LOAD_BALANCERS"}
TARGET_GROUPS = "PORTICO_EMULATOR_TARGET_GROUPS"
PROVISIONING = "PORTICO_EMULATOR_LOAD_BALANCER_PROVISIONING_SECONDS"
_born: dict[str, float] = {}  # load balancer ARN -> when it was created (monotonic), while it provisions


def _create_load_balancer(create_load_balancer):
    def wrapper(self, name, *args, **kwargs):
        from moto.elbv2.exceptions import DuplicateLoadBalancerName, ELBClientError

        kind = kwargs.get("loadbalancer_type") or "application"
        same = next((lb for lb in self.load_balancers.values() if lb.name == name), None)
        if same is not None:
            if same.type == kind and same.scheme == kwargs.get("scheme", "internet-facing"):
                return same  # idempotent: the load balancer of that name
            raise DuplicateLoadBalancerName()
        if sum(1 for lb in self.load_balancers.values() if lb.type == kind) >= limit(LOAD_BALANCERS[kind], 50):
            raise ELBClientError("TooManyLoadBalancers", "You've reached the limit on the number of load balancers "
                                                         "for your Amazon Web Services account.")
        balancer = create_load_balancer(self, name, *args, **kwargs)
        if limit(PROVISIONING, 0) > 0:
            _born[balancer.arn] = time.monotonic()
        return balancer

    return wrapper


def _activate(activate):
    def wrapper(self):
        born = _born.get(self.arn)
        if born is not None and time.monotonic() - born < limit(PROVISIONING, 0):
            return  # still provisioning
        _born.pop(self.arn, None)
        activate(self)

    return wrapper


def _create_target_group(create_target_group):
    def wrapper(self, name, *args, **kwargs):
        from moto.elbv2.exceptions import ELBClientError

        if name not in {tg.name for tg in self.target_groups.values()} and \
                len(self.target_groups) >= limit(TARGET_GROUPS, 3000):
            raise ELBClientError("TooManyTargetGroups", "You've reached the limit on the number of target groups "
                                                        "for your Amazon Web Services account.")
        return create_target_group(self, name, *args, **kwargs)

    return wrapper


def _describe_load_balancers(describe):
    def wrapper(self, arns, names):
        from moto.elbv2.exceptions import LoadBalancerNotFoundError

        if arns and any(arn not in self.load_balancers for arn in arns):
            raise LoadBalancerNotFoundError()
        return describe(self, arns, names)

    return wrapper


def install() -> None:
    from moto.elbv2.models import ELBv2Backend, FakeLoadBalancer

    wrap(ELBv2Backend, "create_load_balancer", _create_load_balancer)
    wrap(ELBv2Backend, "describe_load_balancers", _describe_load_balancers)
    wrap(ELBv2Backend, "create_target_group", _create_target_group)
    wrap(FakeLoadBalancer, "activate", _activate)
