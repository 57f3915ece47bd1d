"""`portico doctor SERVICE`: one line per link, ✓/✗ with the fix, non-zero exit on any ✗."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from portico.ops.doctor import Doctor
from portico.reconcile import ALL, Reconciler
from portico.registry import FLAPPING_SWEEPS, Registry
from portico_cli.local_aws.emulator.dataplane import HEALTH_URL

LINKS = ["entry valid", "port reserved", "listener on the NLB", "target group", "ECS service has the target group",
         "targets healthy", "task security group admits the NLB", "VPC link",
         "API resource, methods, VPC_LINK integration", "stage dev deployment contains them"]


@pytest.fixture
def routed(clients, stack, reconciler):
    from tests.conftest import spec_item

    reg = Registry(clients.dynamodb, stack.registry_table)
    reg.put_spec(spec_item("orders"))
    assert reconciler.run(ALL).statuses["orders"].status == "READY"
    return reg.get("orders")


def make_healthy(clients, stack, item):
    """What a running ECS service looks like: a registered task IP, and its security group open to the NLB."""
    clients.elbv2.register_targets(TargetGroupArn=item["targetGroupArn"], Targets=[{"Id": "10.42.1.10",
                                                                                    "Port": 8080}])
    clients.ec2.authorize_security_group_ingress(GroupId=stack.extra["securityGroup"], IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080, "IpRanges": [{"CidrIp": "10.42.0.0/16"}]}])


def test_a_healthy_route_passes_every_link(clients, stack, routed, cli):
    make_healthy(clients, stack, routed)
    checks = Doctor(clients, stack).run("orders")
    assert [c.link for c in checks] == LINKS
    assert [c.link for c in checks if not c.ok] == []
    code, out, _ = cli("doctor", "orders")
    assert code == 0
    assert out.count("✓") == len(LINKS) and "✗" not in out


def test_a_closed_security_group_and_no_targets_fail_with_the_fix(clients, stack, routed, cli):
    code, out, err = cli("doctor", "orders", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["service"] == "orders" and doc["ok"] is False and "2 of 10 link(s) broken" in err
    assert [c["link"] for c in doc["checks"]] == LINKS and set(doc["checks"][0]) == {"link", "ok", "detail", "fix"}
    assert [c["link"] for c in doc["checks"] if not c["ok"]] == LINKS[5:7]  # targets, security group
    code, out, err = cli("doctor", "orders")
    lines = out.splitlines()
    sg = next(i for i, line in enumerate(lines) if "task security group" in line)
    assert lines[sg].startswith("✗")
    assert lines[sg + 1].strip().startswith(f"fix: aws ec2 authorize-security-group-ingress --group-id "
                                            f"{stack.extra['securityGroup']} --protocol tcp --port 8080")
    assert any(line.startswith("✗ targets healthy: no targets registered") for line in lines)


def report_health(stack, item, state: str, reason: str, description: str) -> None:
    """What the local data plane tells the emulator it measured, so DescribeTargetHealth answers it."""
    httpx.post(stack.endpoint_url + HEALTH_URL, json={"targetGroupArn": item["targetGroupArn"], "targets": [
        {"Id": "10.42.1.10", "Port": 8080, "State": state, "Reason": reason, "Description": description}]})


def test_targets_still_registering_are_told_from_unhealthy_ones_and_only_those_blame_the_container(
        clients, stack, routed):
    make_healthy(clients, stack, routed)
    report_health(stack, routed, "initial", "Elb.RegistrationInProgress", "Target registration is in progress")
    health = next(c for c in Doctor(clients, stack).run("orders") if c.link == "targets healthy")
    assert not health.ok and "0/1 healthy, 1 registering, first check in " in health.detail, health
    assert "every 5 s, healthy after 2" in health.detail
    assert health.fix.startswith("wait ") and "container" not in health.fix
    report_health(stack, routed, "unhealthy", "Target.FailedHealthChecks", "Health checks failed")
    health = next(c for c in Doctor(clients, stack).run("orders") if c.link == "targets healthy")
    assert not health.ok and "unhealthy: Target.FailedHealthChecks Health checks failed" in health.detail, health
    assert "container listens on containerPort" in health.fix


def test_a_deleted_listener_breaks_its_links(clients, stack, routed):
    make_healthy(clients, stack, routed)
    listener = next(li for li in clients.elbv2.describe_listeners(LoadBalancerArn=stack.load_balancer_arns[0])
                    ["Listeners"] if li["Port"] == int(routed["listenerPort"]))
    clients.elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
    checks = {c.link: c for c in Doctor(clients, stack).run("orders")}
    listener_check = checks["listener on the NLB"]
    assert not listener_check.ok and "portico reconcile --service orders" in listener_check.fix
    assert not checks["target group"].ok
    assert checks["port reserved"].ok and checks["API resource, methods, VPC_LINK integration"].ok


def test_a_changed_integration_and_a_pending_deployment_are_reported(clients, stack, routed):
    make_healthy(clients, stack, routed)
    api = {r["path"]: r for r in clients.apigateway.get_resources(restApiId=stack.rest_api_id, limit=500)["items"]}
    clients.apigateway.delete_method(restApiId=stack.rest_api_id, resourceId=api["/orders/{proxy+}"]["id"],
                                     httpMethod="ANY")
    from portico.state import StateTable

    StateTable(clients.dynamodb, stack.state_table).mark_deploy_pending("dev")
    checks = {c.link: c for c in Doctor(clients, stack).run("orders")}
    assert checks["API resource, methods, VPC_LINK integration"].detail == "ANY /orders/{proxy+} is missing"
    assert "waiting for a deployment" in checks["stage dev deployment contains them"].detail


def test_an_invalid_or_missing_entry_fails_the_first_link(clients, stack, cli):
    Registry(clients.dynamodb, stack.registry_table).put_spec({"service": "bad", "cluster": "demo",
                                                               "containerPort": 8080, "path": "orders"})
    code, out, _ = cli("doctor", "bad")
    assert code == 1 and out.startswith("✗ entry valid: path: must start with '/'")
    code, out, err = cli("doctor", "ghost")  # no entry and nothing to offboard: unknown (docs/cli.md)
    assert code == 4 and out == "" and "unknown service 'ghost'" in err


def test_probe_on_the_local_stack_says_why_it_was_not_sent(clients, stack, routed, cli):
    make_healthy(clients, stack, routed)
    code, out, _ = cli("doctor", "orders", "--probe")
    assert code == 1
    assert out.splitlines()[-2].startswith("✗ HTTP probe: not sent: the local AWS")


def test_a_tool_stripping_the_target_group_every_sweep_is_reported_on_the_entry_and_by_doctor(
        clients, stack, routed, reconciler):
    """Terraform without ignore_changes: each apply sets the ECS service's loadBalancers from its own
    configuration, the next sweep puts portico's target group back, and each round rolls the tasks."""
    make_healthy(clients, stack, routed)
    reg = Registry(clients.dynamodb, stack.registry_table)

    def iac_apply():
        clients.ecs.update_service(cluster="demo", service="orders", loadBalancers=[])

    def ecs_check():
        return next(c for c in Doctor(clients, stack).run("orders") if c.link == "ECS service has the target group")

    iac_apply()
    reconciler.run(ALL)  # once is drift, repaired
    once = reg.get("orders")
    assert once["status"] == "READY" and once["ecsRepairs"] == 1 and "passes in a row" not in once["statusMessage"]
    assert ecs_check().ok
    iac_apply()
    reconciler.run(ALL)  # twice in a row: flapping
    twice = reg.get("orders")
    assert twice["status"] == "READY" and twice["ecsRepairs"] == 2
    assert "got it back on 2 passes in a row" in twice["statusMessage"]
    assert "ignore_changes = [load_balancer]" in twice["statusMessage"]
    check = ecs_check()
    assert not check.ok and "2 passes in a row" in check.detail and "ignore_changes" in check.fix
    reconciler.run(ALL)  # the tool leaves the list alone now: nothing to write
    assert reg.get("orders") == twice
    later = time.time() + FLAPPING_SWEEPS * stack.sweep_seconds + 1  # no repair for two sweeps: it is over
    Reconciler(clients, stack, clock=lambda: later).run(ALL)
    settled = reg.get("orders")
    assert settled["status"] == "READY" and settled["ecsRepairs"] == 2
    assert "passes in a row" not in settled["statusMessage"]
    iac_apply()
    Reconciler(clients, stack, clock=lambda: later).run(ALL)  # a repair after the quiet spell counts from 1
    assert reg.get("orders")["ecsRepairs"] == 1


def test_the_vpc_link_line_reports_the_links_status(clients, stack, routed):
    link = next(c for c in Doctor(clients, stack).run("orders") if c.link == "VPC link")
    assert link.ok and link.detail == f"{stack.vpc_link_ids[0]} (v1) AVAILABLE"


@pytest.mark.parametrize("status, ok, fix", [("AVAILABLE", True, ""), ("INACTIVE", False, "60 days"),
                                             ("FAILED", False, "Replacing the VPC link"), ("PENDING", False, "wait")])
def test_a_v2_link_that_is_not_available_fails_with_what_to_do(status, ok, fix):
    """One branch, with a stand-in for GetVpcLink: the emulator's links are always AVAILABLE, while AWS makes a
    VPC link V2 INACTIVE after 60 days without traffic."""
    from types import SimpleNamespace

    from portico.settings import Settings

    class Links:
        def get_vpc_link(self, VpcLinkId):  # noqa: N803 - boto3's parameter name
            return {"VpcLinkId": VpcLinkId, "VpcLinkStatus": status, "VpcLinkStatusMessage": ""}

    settings = Settings(load_balancer_arns=("arn:nlb",), vpc_link_v2_id="v2link", vpc_link_version="v2")
    check = Doctor(SimpleNamespace(apigatewayv2=Links()), settings)._link("arn:nlb", settings.links("v2"))
    assert (check.ok, check.detail) == (ok, f"v2link (v2) {status}") and fix in check.fix
