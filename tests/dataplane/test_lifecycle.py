"""What portico changes, the data plane follows: offboarding, drift and its repair, a user's own task, Cognito."""

from __future__ import annotations

import sys
import time

import pytest

from portico.triggers import sweeper
from portico_cli.local_aws import account as local

from .conftest import ALL, spec_item, start_plane


@pytest.fixture(scope="module")
def running(local_stack):
    local_stack.onboard(spec_item("orders"), spec_item("users"))
    start_plane(local_stack)
    assert local_stack.wait_for("/orders").status_code == 200
    assert local_stack.wait_for("/users").status_code == 200
    return local_stack


def test_an_offboarded_route_is_403_after_one_pass(running):
    running.registry.delete("users")
    running.reconciler.run(ALL)
    running.plane.sync()
    resp = running.http.get(running.url("/users/anything"))
    assert (resp.status_code, resp.json()) == (403, {"message": "Missing Authentication Token"})
    assert running.http.get(running.url("/orders")).status_code == 200


def test_a_detached_target_group_fails_requests_until_the_sweep_repairs_it(running, monkeypatch):
    ecs = running.clients.ecs
    ecs.update_service(cluster="demo", service="orders", loadBalancers=[])  # drift: someone detached it
    running.plane.sync()  # the agent deregisters the task, as ECS does
    broken = running.http.get(running.url("/orders"))
    assert broken.status_code == 504 and broken.json() == {"message": "Internal server error"}

    monkeypatch.setattr(sweeper, "default_reconciler", lambda: running.reconciler)
    summary = sweeper.handler({}, _context())  # the scheduled sweep
    assert summary
    running.plane.sync()
    assert running.wait_for("/orders").status_code == 200
    tg = running.registry.get("orders")["targetGroupArn"]
    lbs = ecs.describe_services(cluster="demo", services=["orders"])["services"][0]["loadBalancers"]
    assert [lb["targetGroupArn"] for lb in lbs] == [tg]


def test_a_user_task_definition_with_a_local_command_gets_that_process(running):
    """image `local`: the agent runs the container's command, `${PORT}` replaced by its port."""
    ecs, settings = running.clients.ecs, running.settings
    ecs.register_task_definition(
        family="files", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "web", "image": "local", "essential": True,
                               "command": [sys.executable, "-m", "http.server", "${PORT}", "--bind", "127.0.0.1"],
                               "portMappings": [{"containerPort": 9000, "protocol": "tcp"}]}])
    ecs.create_service(cluster="demo", serviceName="files", taskDefinition="files", desiredCount=1,
                       launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {
                           "subnets": settings.extra["subnets"].split(","), "securityGroups": [
                               settings.extra["securityGroup"]]}})
    running.onboard(spec_item("files", containerPort=9000))
    resp = running.wait_for("/files")
    assert resp.status_code == 200 and "Directory listing" in resp.text


def test_a_route_onboarded_while_the_plane_runs_serves_within_30_s_of_ready(running):
    """portico's default health check (5 s, healthy after 2) makes a running task routable seconds after READY;
    until then the route is READY with its targets registering, and says so."""
    running.registry.put_spec(spec_item("catalog"))
    status = running.reconciler.run(ALL).statuses["catalog"]
    ready = time.monotonic()
    assert status.status == "READY" and "routed before any target is healthy" in status.message, status
    resp = running.wait_for("/catalog", timeout=30)
    took = time.monotonic() - ready
    assert resp.status_code == 200 and took < 30, (resp.status_code, took)  # measured: 5.7 s


def test_a_cognito_route_takes_an_id_token_of_the_user_pool(running):
    endpoint, apigw = running.settings.endpoint_url, running.clients.apigateway
    idp = local.session(endpoint).client("cognito-idp", endpoint_url=endpoint)
    pool = idp.create_user_pool(PoolName="portico-users")["UserPool"]
    client = idp.create_user_pool_client(UserPoolId=pool["Id"], ClientName="web",
                                         ExplicitAuthFlows=["ADMIN_USER_PASSWORD_AUTH"])["UserPoolClient"]
    idp.admin_create_user(UserPoolId=pool["Id"], Username="ann", TemporaryPassword="Temp-pass-1")
    idp.admin_set_user_password(UserPoolId=pool["Id"], Username="ann", Password="Perm-pass-1", Permanent=True)
    tokens = idp.admin_initiate_auth(UserPoolId=pool["Id"], ClientId=client["ClientId"],
                                     AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                     AuthParameters={"USERNAME": "ann", "PASSWORD": "Perm-pass-1"})
    apigw.create_authorizer(restApiId=running.settings.rest_api_id, name="portico-cognito", type="COGNITO_USER_POOLS",
                            providerARNs=[pool["Arn"]], identitySource="method.request.header.Authorization")
    running.onboard(spec_item("members", ecsService="users", auth="COGNITO"))
    running.wait_for("/members", 401)
    anonymous = running.http.get(running.url("/members"))
    assert (anonymous.status_code, anonymous.json()) == (401, {"message": "Unauthorized"})
    access = running.http.get(running.url("/members"), headers={"Authorization": tokens["AuthenticationResult"]
                                                                ["AccessToken"]})
    assert access.status_code == 401  # no scopes on the method: the ID token is the one accepted
    ok = running.wait_for("/members/profile", headers={"Authorization": tokens["AuthenticationResult"]["IdToken"]})
    assert ok.status_code == 200 and ok.json()["path"] == "/profile"


def _context():
    from portico_cli.local_aws.streampoll import fake_context

    return fake_context("portico-sweeper")
