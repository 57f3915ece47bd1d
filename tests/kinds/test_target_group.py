"""Target groups: the health check portico gives them (its quickest default, or the entry's own) and its repair
when someone changes it."""

from __future__ import annotations

from decimal import Decimal

from portico.reconcile import ALL
from portico.status import REGISTERING
from tests.conftest import spec_item
from tests.kinds.conftest import local_stack

TIMING = ("HealthCheckIntervalSeconds", "HealthCheckTimeoutSeconds", "HealthyThresholdCount",
          "UnhealthyThresholdCount")


def timing(clients, arn: str) -> tuple:
    tg = clients.elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0]
    return tuple(int(tg[k]) for k in TIMING)


def test_health_checks_default_to_the_quickest_aws_allows_an_entry_may_set_its_own_and_drift_is_put_back(aws):
    s, clients, reg, reconciler = local_stack(aws)
    reg.put_spec(spec_item("orders"))
    reg.put_spec(spec_item("users", healthCheckIntervalSeconds=Decimal(10), healthCheckTimeoutSeconds=Decimal(6),
                           healthyThresholdCount=Decimal(3), unhealthyThresholdCount=Decimal(4)))
    first = reconciler.run(ALL).statuses
    orders, users = first["orders"], first["users"]
    assert orders.status == "READY" and REGISTERING in orders.message and "about 10 s" in orders.message, orders
    assert timing(clients, orders.target_group_arn) == (5, 4, 2, 2)
    assert timing(clients, users.target_group_arn) == (10, 6, 3, 4) and "about 30 s" in users.message

    clients.elbv2.modify_target_group(TargetGroupArn=users.target_group_arn, HealthCheckIntervalSeconds=30,
                                      HealthyThresholdCount=5)  # by hand, outside portico
    repaired = reconciler.run(ALL)
    assert [(step.action, step.service) for step in repaired.plan.steps] == [("modify_target_group", "users")]
    assert timing(clients, users.target_group_arn) == (10, 6, 3, 4)
    assert repaired.statuses["orders"] == orders  # the note stays, so a pass that changes nothing writes nothing
    assert reconciler.run(ALL).plan.steps == []
