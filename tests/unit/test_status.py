"""What a pass tells each entry (portico.status): pure, from a real plan of hand-built observed state."""

from __future__ import annotations

from portico.plan import make_plan
from portico.registry import FAILED, PENDING, READY
from portico.status import FRESH_TARGETS, REGISTERING, Pass, status_of
from tests.unit.test_plan_golden import SETTINGS, empty, spec

WHERE = {"rest_api_id": "api123", "region": "us-east-1", "stage": "dev", "sweep_seconds": 300}


def planned():
    return make_plan({"orders": spec("orders")}, empty(), SETTINGS, "us-east-1", None, {"orders"})


def ended(**kw) -> Pass:
    plan = planned()
    return Pass({"orders": {"service": "orders"}}, {"orders": spec("orders")}, plan, **kw)


def test_a_planned_service_is_ready_with_its_port_url_and_target_group():
    p = ended(target_groups={d.target_group_name: "arn:tg/x" for d in planned().desired.values()})
    st = status_of(p, "orders", now=0, **WHERE)
    assert (st.status, st.listener_port, st.target_group_arn) == (READY, 10000, "arn:tg/x")
    assert st.message == ("routed /orders to port 10000 and ECS service demo/orders; routed before any target is "
                          "healthy: a task takes requests once 2 health checks 5 s apart pass, about 10 s after ECS "
                          "registers it; an NLB can take a few minutes more to register a target")
    assert st.invoke_url == "https://api123.execute-api.us-east-1.amazonaws.com/dev/orders"
    assert st.spec_hash == spec("orders").digest()


def test_invalid_beats_retry_and_says_the_old_routing_stays_only_when_there_is_one():
    assert status_of(ended(invalid={"orders": "path: must start with /"}, retry={"orders": "x"}), "orders",
                     now=0, **WHERE).message == "path: must start with /"
    st = status_of(ended(invalid={"orders": "path: must start with /"}, routed={"orders"}), "orders", now=0, **WHERE)
    assert (st.status, st.message) == (FAILED, "path: must start with /; the last valid routing stays in place")
    assert st.spec_hash is None  # an invalid entry has no spec to be converged on


def test_a_retry_is_pending_and_beats_a_failure():
    st = status_of(ended(retry={"orders": "lost a race"}, failed={"orders": "boom"}), "orders", now=0, **WHERE)
    assert (st.status, st.message) == (PENDING, "will retry: lost a race")
    st = status_of(ended(failed={"orders": "boom"}), "orders", now=0, **WHERE)
    assert (st.status, st.message) == (FAILED, "boom")


def test_only_a_pass_that_gives_the_service_fresh_targets_says_they_are_registering():
    routed = ended(routed={"orders"})  # routed before, but this plan creates its target group: fresh targets
    assert REGISTERING in status_of(routed, "orders", now=0, **WHERE).message
    plan = planned()
    plan.steps = [s for s in plan.steps if s.action not in FRESH_TARGETS]  # a pass that only touches the API
    st = status_of(Pass({"orders": {"service": "orders"}}, {"orders": spec("orders")}, plan, routed={"orders"}),
                   "orders", now=0, **WHERE)
    assert st.message == "routed /orders to port 10000 and ECS service demo/orders"
    said = {"service": "orders", "status": READY, "specHash": spec("orders").digest(), "statusMessage": "…; "
            + REGISTERING}  # a pass after the one that said it keeps saying it: it writes nothing
    assert status_of(Pass({"orders": said}, {"orders": spec("orders")}, plan, routed={"orders"}), "orders", now=0,
                     **WHERE).message.endswith("an NLB can take a few minutes more to register a target")


def test_ls_says_registering_only_within_the_health_checks_window_of_the_pass_that_said_so():
    from portico_cli.commands.routes import _registering

    item = {"service": "orders", "status": READY, "reconciledAt": 1000, "healthyThresholdCount": 3,
            "statusMessage": f"routed /orders to port 10000 and ECS service demo/orders; {REGISTERING}: ..."}
    assert _registering(item, now=1004) == "registering: first health check passes in ~11 s"  # 3 × 5 s - 4 s
    assert _registering(item, now=1015) is None  # past the window: ls cannot know without reading (--health)
    assert _registering({**item, "statusMessage": "routed /orders"}, now=1004) is None
    assert _registering({**item, "status": PENDING}, now=1004) is None
