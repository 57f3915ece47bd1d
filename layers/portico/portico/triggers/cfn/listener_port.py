"""Custom::ListenerPort: a listener port on portico's NLB, reserved for a stack. Physical id `<lb>#<port>`.

The reservation is the `port#<lb>#<port>` item every service reserves, held by `cfn:<StackId>#<LogicalId>`,
and a port is free by the same rule the planner uses (`slots.LoadBalancerPorts`): so a port is never held
by both a service and a stack.
"""

from __future__ import annotations

from typing import Any

from ...observed import Observed, read_load_balancers
from ...reconcile import Reconciler
from ...slots import choose_port, pool_ports
from ...spec import SpecError
from ...state import Conflict
from .answer import Failure
from .properties import port_property


class ListenerPorts:
    def __init__(self, reconciler: Reconciler):
        self.r = reconciler
        self.state, self.settings = reconciler.state, reconciler.settings

    @staticmethod
    def owner(event: dict[str, Any]) -> str:
        return f"cfn:{event['StackId']}#{event['LogicalResourceId']}"

    def observed(self) -> Observed:
        return Observed(state=self.state.snapshot(), load_balancers=read_load_balancers(self.r.clients.elbv2,
                                                                                        self.settings),
                        target_groups={}, resources={}, ecs={})

    def upsert(self, event: dict[str, Any], context: Any) -> tuple[str, dict[str, Any]]:
        owner = self.owner(event)
        if self.settings.backend == "alb":
            raise Failure("Custom::ListenerPort reserves a port on portico's NLB pool; this portico stack runs in ALB "
                          "mode (Backend=alb), whose one ALB listener is the template's")
        port = port_property(event.get("ResourceProperties") or {})
        for _ in range(5):
            obs = self.observed()
            held = sorted((lb, p) for (lb, p), o in obs.state.ports.items() if o == owner)
            current = event.get("PhysicalResourceId")
            mine = sorted((h for h in held if port in (None, h[1])), key=lambda h: f"{h[0]}#{h[1]}" != current)
            if mine:  # a duplicate delivery, or an Update that keeps the port
                lb, chosen = mine[0]
            elif port is None:
                try:
                    lb, chosen = choose_port(owner, obs, self.settings)
                except SpecError as exc:
                    raise Failure(str(exc)) from None
            else:
                lb, chosen = self.check_specific(obs, port)
            try:
                self.state.reserve_port(owner, lb, chosen)
            except Conflict:
                if port is not None:
                    raise Failure(f"Port: {port} was just reserved by someone else") from None
                continue  # lost a race for that port: choose again
            # A changed Port is a new physical id: CloudFormation's Delete of the old id releases the old port.
            return f"{lb}#{chosen}", {"Port": chosen, "LoadBalancerArn": lb}
        raise Failure("no free listener port after 5 attempts: other reconciles keep taking them; try again")

    def check_specific(self, obs: Observed, port: int) -> tuple[str, int]:
        """The first load balancer of the pool where `port` is free, or why it is free on none."""
        reasons = []
        for arn, ports in pool_ports(obs, self.settings):
            reason = ports.why_not_free(port)
            if reason is None:
                return arn, port
            reasons.append(f"Port: {reason}")
        raise Failure(reasons[0] if reasons else "no portico load balancer found (PORTICO_LOAD_BALANCER_ARNS)")

    def delete(self, event: dict[str, Any], context: Any) -> tuple[str, dict[str, Any]]:
        physical = event.get("PhysicalResourceId") or ""
        lb, _, port = physical.rpartition("#")
        if lb.startswith("arn:") and port.isdigit():
            self.state.release_port(self.owner(event), lb, int(port))  # only if this resource holds it
        return physical, {}
