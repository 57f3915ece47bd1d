"""Real HTTP through an ALB-mode stack: API Gateway → VPC link v2 → the ALB's listener, whose rules pick the
service by the x-portico-service header the integration sets → the service's target group → its task. The
service sees its path without the prefix, as in NLB mode; a request no rule matches gets the listener's
default action (fixed 404)."""

from __future__ import annotations

import pytest

from portico.settings import SERVICE_HEADER

from .conftest import Stack, spec_item, start_plane


@pytest.fixture(scope="module")
def alb_stack(moto_endpoint):
    stack = Stack(moto_endpoint, vpc_links="v2", backend="alb")
    stack.onboard(spec_item("orders", auth="NONE"), spec_item("users", auth="NONE"))
    start_plane(stack)
    yield stack
    stack.plane.stop()
    stack.http.close()


def test_each_service_answers_through_its_alb_rule(alb_stack):
    orders = alb_stack.wait_for("/orders/items/7?x=1")
    assert orders.status_code == 200, orders.text
    body = orders.json()
    assert (body["service"], body["path"], body["query"]) == ("orders", "/items/7", "x=1")
    assert body["headers"][SERVICE_HEADER].startswith("orders."), "the integration's header reached the service"
    users = alb_stack.wait_for("/users/me")
    assert users.status_code == 200, users.text
    assert (users.json()["service"], users.json()["path"]) == ("users", "/me")
    root = alb_stack.wait_for("/users")
    assert (root.json()["service"], root.json()["path"]) == ("users", "/")
    for _ in range(5):  # every answer from its own service: the header picks the rule, not the order of rules
        assert alb_stack.http.get(alb_stack.url("/orders/a")).json()["service"] == "orders"
        assert alb_stack.http.get(alb_stack.url("/users/b")).json()["service"] == "users"


def test_a_request_no_rule_matches_gets_the_listeners_default_404(alb_stack):
    assert alb_stack.wait_for("/orders/a").status_code == 200
    elbv2, s = alb_stack.clients.elbv2, alb_stack.settings
    [rule] = [r for r in elbv2.describe_rules(ListenerArn=s.alb_listener_arn)["Rules"]
              if not r["IsDefault"] and r["Conditions"][0]["HttpHeaderConfig"]["Values"][0].startswith("orders.")]
    elbv2.delete_rule(RuleArn=rule["RuleArn"])  # drift: the plane re-reads the ALB every second
    gone = alb_stack.wait_for("/orders/a", status=404)
    assert gone.status_code == 404 and gone.json() == {"message": "Not Found"}
    assert alb_stack.http.get(alb_stack.url("/users/b")).status_code == 200
    alb_stack.reconciler.run()  # the reconcile puts the rule back: traffic returns
    assert alb_stack.wait_for("/orders/a").json()["service"] == "orders"


def test_a_header_sent_by_the_caller_cannot_pick_another_services_rule(alb_stack):
    """The rule matches the service's name and a token under the stack's secret, so a caller on orders' route
    who sends users' header (the bare name, or the value orders' own task sees with the name changed) still
    reaches orders; and were API Gateway to send the caller's header beside the integration's, the ALB's
    rules (matched as an ALB does, any value of the header) would still pick no other service."""
    from portico.slots import header_value
    from portico.state import StateTable
    from portico_cli.local_aws.dataplane.gateway import _rule_matches

    s = alb_stack.settings
    orders_sees = alb_stack.wait_for("/orders/a").json()["headers"][SERVICE_HEADER]
    forged = ["users", "USERS", "users." + orders_sees.split(".", 1)[1], "users.*", "*"]
    for value in forged:
        answer = alb_stack.http.get(alb_stack.url("/orders/a"), headers={SERVICE_HEADER: value})
        assert answer.status_code == 200 and answer.json()["service"] == "orders", (value, answer.text)
        assert answer.json()["headers"][SERVICE_HEADER] == orders_sees
    secret = StateTable(alb_stack.clients.dynamodb, s.state_table).snapshot().header_secret
    users_rule = [("x-portico-service", [header_value("users", secret)])]
    for value in forged:  # both headers on the wire: the client's and the integration's
        assert not _rule_matches(users_rule, [(SERVICE_HEADER, value), (SERVICE_HEADER, orders_sees)])
    assert _rule_matches(users_rule, [(SERVICE_HEADER, header_value("users", secret))])
