"""One rule decides whether a listener port is free, for the planner (`choose_port`) and for a stack's
Custom::ListenerPort (`why_not_free`). Hand-built observed state; no AWS."""

from __future__ import annotations

import pytest

from portico.observed import Listener, LoadBalancer, Observed
from portico.settings import LISTENERS_PER_NLB, Settings
from portico.slots import choose_port, pool_ports
from portico.spec import SpecError
from portico.state import Ledger, StateSnapshot
from portico.triggers.cfn.answer import Failure
from portico.triggers.cfn.properties import port_property

LB1, LB2 = "arn:aws:elasticloadbalancing:lb/net/one/1", "arn:aws:elasticloadbalancing:lb/net/two/2"
SETTINGS = Settings(load_balancer_arns=(LB1, LB2), vpc_link_ids=("vl1", "vl2"), port_range=(10000, 10999))


def observed(ports: dict[tuple[str, int], str], listeners: dict[str, list[int]]) -> Observed:
    lbs = {arn: LoadBalancer(arn, f"{arn}.dns", "vl", {p: Listener(f"{arn}/l{p}", p, "TCP", ()) for p in ps})
           for arn, ps in listeners.items()}
    return Observed(state=StateSnapshot(ports=ports), load_balancers=lbs, target_groups={}, resources={}, ecs={})


def test_a_port_is_taken_by_a_reservation_a_listener_or_a_full_load_balancer():
    obs = observed({(LB1, 10000): "orders"}, {LB1: [10001], LB2: list(range(20000, 20000 + LISTENERS_PER_NLB))})
    ports = dict(pool_ports(obs, SETTINGS))
    assert ports[LB1].why_not_free(10000) == "10000 is already reserved by orders"
    assert ports[LB1].why_not_free(10001) == "10001 is used by a listener on the load balancer"
    assert ports[LB1].port_is_free(10002)
    assert ports[LB2].why_not_free(10002) == f"the load balancer already has {LISTENERS_PER_NLB} listeners or " \
                                             "reservations"


def test_the_planner_takes_the_lowest_port_the_rule_calls_free_on_the_first_load_balancer_with_room():
    full = {(LB1, 10000 + i): f"s{i}" for i in range(LISTENERS_PER_NLB - 1)}
    obs = observed(full, {LB1: [10999], LB2: [10000]})
    assert choose_port("new", obs, SETTINGS) == (LB2, 10001)


def test_a_load_balancer_missing_from_aws_is_skipped_and_no_room_anywhere_is_a_spec_error():
    obs = observed({}, {LB2: list(range(10000, 10000 + LISTENERS_PER_NLB))})
    assert [arn for arn, _ in pool_ports(obs, SETTINGS)] == [LB2]
    with pytest.raises(SpecError, match=r"listenerPort: every NLB of the pool \(2, a VPC link v1 each\) has 50 "
                                        r"listeners.*does not grow.*portico migrate-link"):
        choose_port("new", obs, SETTINGS)


def test_a_full_pool_on_a_v2_link_waits_while_it_may_grow_and_names_max_load_balancers_when_it_may_not():
    from portico.slots import Waiting

    full = observed({}, {LB1: list(range(20000, 20000 + LISTENERS_PER_NLB))})
    grows = Settings(load_balancer_arns=(LB1,), vpc_link_v2_id="v2", max_load_balancers=2)
    with pytest.raises(Waiting, match="load balancer provisioning"):
        choose_port("new", full, grows)
    with pytest.raises(SpecError, match=r"\(1 of MaxLoadBalancers 1\) has 50 listeners.*raise MaxLoadBalancers") as err:
        choose_port("new", full, grows.with_(max_load_balancers=1))
    assert not isinstance(err.value, Waiting)
    roomy = observed({}, {LB1: list(range(10000, 10010))})
    with pytest.raises(SpecError, match="no free listener port: every port in 10000-10009 is taken"):
        choose_port("new", roomy, grows.with_(port_range=(10000, 10009)))


@pytest.mark.parametrize("value, port", [(None, None), ("", None), ("10500", 10500), (443, 443), ("1", 1)])
def test_a_listener_port_property_is_a_port_or_unset(value, port):
    assert port_property({"ServiceToken": "arn", **({} if value is None else {"Port": value})}) == port


@pytest.mark.parametrize("value", ["0", "65536", "abc", "10.5", True, "true", "NaN"])
def test_a_bad_listener_port_property_names_the_rule(value):
    with pytest.raises(Failure) as err:
        port_property({"Port": value})
    assert err.value.reason == f"Port: must be a whole number from 1 to 65535, got {value!r}"


def test_a_listener_port_has_no_other_property():
    with pytest.raises(Failure) as err:
        port_property({"Port": "10500", "Protocol": "TCP"})
    assert err.value.reason == "Protocol: not a property of Custom::ListenerPort; allowed: Port"


# -- ALB mode: rule priorities, by the same kind of rule (slots.choose_priority) ------------------------------
ALB = "arn:aws:elasticloadbalancing:lb/app/alb/1"
MINE, OTHER = f"{ALB}/listener-80", f"{ALB}/listener-8080"
ALB_SETTINGS = Settings(backend="alb", load_balancer_arns=(ALB,), alb_listener_arn=MINE, vpc_link_v2_id="v2")


def alb_observed(reserved: dict[int, str], mine: list[int], other: int = 0) -> Observed:
    from portico.observed import Rule

    def rules(prefix: str, priorities) -> dict:
        return {f"{prefix}/r{p}": Rule(f"{prefix}/r{p}", p, (), ()) for p in priorities}

    listeners = {80: Listener(MINE, 80, "HTTP", (), rules(MINE, mine)),
                 8080: Listener(OTHER, 8080, "HTTP", (), rules(OTHER, range(1, other + 1)))}
    lb = LoadBalancer(ALB, "alb.dns", "v2", listeners)
    state = StateSnapshot(priorities={(MINE, p): s for p, s in reserved.items()})
    return Observed(state=state, load_balancers={ALB: lb}, target_groups={}, resources={}, ecs={})


def test_the_lowest_priority_no_reservation_and_no_rule_holds_is_chosen():
    from portico.slots import choose_priority

    obs = alb_observed({1: "orders", 3: "users"}, mine=[1, 2, 5])  # 2 and 5: someone else's rules
    assert choose_priority("new", obs, ALB_SETTINGS)[1:] == (obs.load_balancers[ALB].listeners[80], 4)
    obs.state.ledgers["users"] = Ledger("users", priority=3)
    assert choose_priority("users", obs, ALB_SETTINGS)[2] == 3, "a held reservation is kept"


def test_every_listeners_rules_count_toward_the_100_rules_per_alb():
    from portico.slots import choose_priority

    assert ALB_SETTINGS.rules_per_load_balancer == 100
    obs = alb_observed({p: f"s{p}" for p in range(1, 61)}, mine=list(range(1, 61)), other=39)
    assert choose_priority("new", obs, ALB_SETTINGS)[2] == 61  # 60 + 39 = 99: room for one
    obs = alb_observed({p: f"s{p}" for p in range(1, 61)}, mine=list(range(1, 61)), other=40)
    with pytest.raises(SpecError, match=r'listenerRule: every load balancer of the pool \(1 of MaxLoadBalancers 1\) '
                                        r'has 100 rules or reservations, the account\'s quota "Rules per Application '
                                        r'Load Balancer" \(RulesPerAlb'):
        choose_priority("new", obs, ALB_SETTINGS)
