"""Reservations: a slot (a listener port; in ALB mode a rule priority) and a path belong to one service, by a
conditional write in the state table; a pass that loses one to a concurrent pass chooses again, never sharing it."""

from __future__ import annotations

import pytest

from portico.reconcile import ALL
from portico.state import StateTable
from tests.conftest import spec_item
from tests.kinds.conftest import rules


def test_a_priority_taken_by_a_concurrent_pass_is_chosen_again_never_shared(alb):
    from portico.state import Conflict, Reservation

    s, clients, reg, reconciler = alb
    state = StateTable(clients.dynamodb, s.state_table)
    state.reserve(Reservation("rival", s.load_balancer_arns[0], 7, "/rival", listener=s.alb_listener_arn))
    with pytest.raises(Conflict) as lost:  # the same conditional write as a port: one owner per priority
        state.reserve(Reservation("orders", s.load_balancer_arns[0], 7, "/orders", listener=s.alb_listener_arn))
    assert (lost.value.kind, lost.value.owner) == ("priority", "rival")
    state.release_priority("rival", s.alb_listener_arn, 7)

    observe, raced = reconciler.observe, []

    def observe_then_lose_the_race(specs, api=None):  # another pass reserves priority 1 right after this one read
        seen = observe(specs, api)
        if not raced:
            raced.append(state.reserve(Reservation("rival", s.load_balancer_arns[0], 1, "/rival",
                                                   listener=s.alb_listener_arn)))
        return seen

    reconciler.observe = observe_then_lose_the_race
    reg.put_spec(spec_item("orders"))
    outcome = reconciler.run(ALL)
    assert outcome.statuses["orders"].status == "READY", outcome.statuses["orders"]
    priorities = StateTable(clients.dynamodb, s.state_table).snapshot().priorities
    assert priorities == {(s.alb_listener_arn, 1): "rival", (s.alb_listener_arn, 2): "orders"}
    assert [int(r["Priority"]) for r in rules(clients, s)] == [2]
