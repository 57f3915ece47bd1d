"""IAM contract: the AWS calls each function makes (recorded while its real handler runs in-process against
the moto server) are allowed by that function's role in template.yaml; and every action a role allows is
made by its function in these flows, or is listed in ALLOWANCE with the reason.

moto ignores IAM, so this is the check that a deployed portico is not denied (or over-privileged).
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from collections import defaultdict
from types import SimpleNamespace

import botocore.client
import pytest
from template_support import FUNCTIONS, ROOT, Deployed, as_list, load_template, role_statements, statements

from portico.registry import Registry
from portico.triggers import default_reconciler
from portico_cli.local_aws.streampoll import fake_context
from tests.support import Recorder, event, load_handler, stream_event

# Actions a role allows although the function's code makes no such call in these flows, and why.
ALLOWANCE: dict[str, str] = {
    "logs:CreateLogStream": "the Lambda runtime writes the function's log group with the role",
    "logs:PutLogEvents": "the Lambda runtime writes the function's log group with the role",
    "xray:PutTraceSegments": "the Lambda runtime sends X-Ray segments (Tracing: Active) with the role",
    "xray:PutTelemetryRecords": "the Lambda runtime sends X-Ray telemetry with the role",
    "sqs:SendMessage": "Lambda delivers to the on-failure destination / the DLQ with the role",
    "dynamodb:DescribeStream": "the event source mapping reads the registry stream with the role",
    "dynamodb:GetRecords": "the event source mapping reads the registry stream with the role",
    "dynamodb:GetShardIterator": "the event source mapping reads the registry stream with the role",
    "dynamodb:ListStreams": "the event source mapping lists the table's streams with the role",
    "elasticloadbalancing:ModifyListener": "apply.modify_listener: only when a listener's default action drifted",
    "elasticloadbalancing:DescribeTags": "apply: ownership re-check before modifying/deleting an ELB object",
    "iam:PassRole": "Custom::ApiGatewayAccount's UpdateAccount passes the CloudWatch role to API Gateway",
    "cloudwatch:DeleteDashboards": "kinds/dashboard: only to delete the pages an earlier version split the "
                                   "dashboard into",
    "elasticloadbalancing:ModifyRule": "kinds/listener_rule (ALB mode): only when a rule's action or condition drifted",
    "elasticloadbalancing:SetRulePriorities": "kinds/listener_rule (ALB mode): only when a rule's priority was changed",
    "elasticloadbalancing:CreateLoadBalancer": "kinds/load_balancer: only when the pool grows (tests/kinds/"
                                               "test_load_balancer.py)",
    "elasticloadbalancing:ModifyLoadBalancerAttributes": "kinds/load_balancer: an NLB it adds to the pool",
    "elasticloadbalancing:DeleteLoadBalancer": "kinds/load_balancer: a load balancer it added, once empty",
}
# A mode's policies and actions are judged by the run of that mode (Backend=nlb or alb): the other never needs
# them. Which managed policies a mode's roles carry is the template's (its conditions, under these parameters).
MODE_PARAMETERS = {"nlb": {}, "alb": {"Backend": "alb", "VpcLinkVersion": "v2"}}
MODE_ACTIONS = {"elasticloadbalancing:DescribeRules": "alb",  # observed.read_rules reads ALB listeners only
                # ALB mode makes a listener only with an ALB it adds to the pool (kinds/load_balancer) and deletes
                # none (deleting that ALB deletes its listener); a service's listener is NLB mode's
                "elasticloadbalancing:CreateListener": "nlb", "elasticloadbalancing:DeleteListener": "nlb"}

IAM_PREFIX = {"elbv2": "elasticloadbalancing", "dynamodbstreams": "dynamodb"}
TRANSACT_ACTIONS = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem",
                    "ConditionCheck": "dynamodb:ConditionCheckItem"}


class CallLog:
    """Every botocore call made in-process while `function` is set, with its parameters."""

    def __init__(self):
        self.function: str | None = None
        self.calls: dict[str, list[tuple[str, str, dict, object]]] = defaultdict(list)

    def install(self, monkeypatch):
        original = botocore.client.BaseClient._make_api_call
        log = self

        def recording(client, operation_name, api_params):
            if log.function:
                log.calls[log.function].append(
                    (client.meta.service_model.service_name, operation_name, copy.deepcopy(api_params), client))
            return original(client, operation_name, api_params)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)

    def run(self, function: str, fn, *args):
        self.function = function
        try:
            return fn(*args)
        finally:
            self.function = None


def iam_requests(service: str, operation: str, params: dict, client, settings) -> list[tuple[str, str]]:
    """(IAM action, resource hint) pairs that one API call needs."""
    if service == "apigateway":
        http = client.meta.service_model.operation_model(operation).http
        shape = client.meta.service_model.operation_model(operation).input_shape
        path = http["requestUri"].split("?")[0]
        for member, ref in (shape.members.items() if shape else []):
            if ref.serialization.get("location") == "uri":
                path = path.replace("{" + ref.serialization.get("name", member) + "}", str(params.get(member, "")))
        return [(f"apigateway:{http['method']}", path)]
    if service == "dynamodb" and operation == "TransactWriteItems":
        return [(TRANSACT_ACTIONS[kind], body["TableName"]) for item in params["TransactItems"]
                for kind, body in item.items()]
    if service == "dynamodb":
        tables = list(params.get("RequestItems", {})) or [params.get("TableName", "")]
        return [(f"dynamodb:{operation}", t) for t in tables]
    out = [(f"{IAM_PREFIX.get(service, service)}:{operation}", "")]
    if service == "elbv2" and operation in ("CreateTargetGroup", "CreateListener", "CreateRule"):
        assert {t["Key"] for t in params.get("Tags", [])} >= {"portico:stack", "portico:service"}, \
            f"{operation} without portico's owner tags: the role's tag conditions would deny it"
        stack_tag = {t["Key"]: t["Value"] for t in params["Tags"]}["portico:stack"]
        assert stack_tag == settings.stack
        out.append(("elasticloadbalancing:AddTags", ""))
    return out


# ------------------------------------------------------------------ the three functions, driven for real


class CfnAnswers(Recorder):
    """Loopback stand-in for CloudFormation's pre-signed response URL, handing out events that answer to it."""

    @property
    def bodies(self) -> list[dict]:
        with self.lock:
            return [p["body"] for p in self.puts]

    def event(self, name: str, **changes) -> dict:
        ev = event(name)
        ev["RequestId"] = str(uuid.uuid4())
        ev["ResponseURL"] = self.url(ev["RequestId"])
        ev.update(changes)
        return ev


def cfn_context():
    deadline = time.monotonic() + 900
    return SimpleNamespace(function_name="portico-provider", aws_request_id=str(uuid.uuid4()),
                           invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:provider",
                           memory_limit_in_mb=512,
                           get_remaining_time_in_millis=lambda: max(0, int((deadline - time.monotonic()) * 1000)))


@pytest.fixture(params=["nlb", "alb"])
def mode_stack(request, aws):
    """template.yaml deployed in each backend mode: the NLB pool (default), or ALB mode (Backend=alb, on the v2
    link), as a fresh account would hold it before portico's first pass (fresh_account)."""
    from portico.clients import Clients
    from portico_cli.local_aws.account import session
    from tests.conftest import shaped_stack

    s = shaped_stack(aws, **({"vpc_links": "v2", "backend": "alb"} if request.param == "alb" else {}))
    clients = Clients.create(s, boto3_session=session(s.endpoint_url))
    fresh_account(clients.apigateway, s)
    return s, clients


def fresh_account(apigateway, settings) -> None:
    """Undo on the deployed stack what would leave permissions unexercised. The account's CloudWatch Logs role:
    the stack's Custom::ApiGatewayAccount set it, and ApiGatewayAccountFunction sets it (UpdateAccount,
    iam:PassRole) only where none is. An empty ARN is "no role" to the emulator (moto's Account); AWS documents
    no way to unset it (https://docs.aws.amazon.com/apigateway/latest/api/API_UpdateAccount.html), a fresh
    account simply has none. The stages' stage-wide `*/*` method settings (the template's): the flow's services
    ask for what they already give, so without them each service's settings are overrides and the passes call
    UpdateStage (a `remove /*/*` drops the override: https://docs.aws.amazon.com/apigateway/latest/api/
    patch-operations.html)."""
    apigateway.update_account(patchOperations=[{"op": "replace", "path": "/cloudwatchRoleArn", "value": ""}])
    for stage in settings.stages:
        apigateway.update_stage(restApiId=settings.rest_api_id, stageName=stage,
                                patchOperations=[{"op": "remove", "path": "/*/*"}])


@pytest.fixture
def recorded(mode_stack, monkeypatch):
    """Drive every function through onboarding, a spec change, drift repair and offboarding."""
    stack, clients = mode_stack
    for name, value in stack.to_env().items():
        monkeypatch.setenv(name, value)
    default_reconciler.cache_clear()
    log = CallLog()
    log.install(monkeypatch)
    registry = Registry(clients.dynamodb, stack.registry_table)

    stream = load_handler("functions/stream")
    for name in ("stream-insert.json", "stream-modify-spec.json", "stream-modify-status.json",
                 "stream-mixed-batch.json"):
        result = log.run("RegistryStreamFunction", stream, stream_event(name, registry), fake_context())
        assert result == {"batchItemFailures": []}, (name, result)

    sweeper = load_handler("functions/sweeper")
    schedule = event("schedule.json")
    if stack.backend == "alb":  # drift: a rule deleted by hand
        rules = clients.elbv2.describe_rules(ListenerArn=stack.alb_listener_arn)["Rules"]
        clients.elbv2.delete_rule(RuleArn=next(r["RuleArn"] for r in rules if not r["IsDefault"]))
    for lb in clients.elbv2.describe_load_balancers()["LoadBalancers"] if stack.backend == "nlb" else ():
        for li in clients.elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
            clients.elbv2.delete_listener(ListenerArn=li["ListenerArn"])  # drift: a listener deleted by hand
            break
    log.run("SweeperFunction", sweeper, schedule, fake_context())
    removed = stream_event("stream-remove.json", registry)  # the entry goes; the sweeper cleans up
    log.run("SweeperFunction", sweeper, schedule, fake_context())
    log.run("RegistryStreamFunction", stream, removed, fake_context())

    if (ROOT / "functions/provider/app.py").is_file():
        from portico.triggers.cfn import service_route

        monkeypatch.setattr(service_route, "MAX_WAIT_BETWEEN_PASSES", 0.05)
        default_reconciler.cache_clear()
        provider = load_handler("functions/provider")
        answers = CfnAnswers()
        try:
            create = answers.event("cfn-service-route-create.json")  # "orders", offboarded above
            log.run("ServiceRouteProviderFunction", provider, create, cfn_context())
            delete = answers.event("cfn-service-route-delete.json", StackId=create["StackId"],
                                   PhysicalResourceId="orders")
            delete["ResourceProperties"] = create["ResourceProperties"]
            log.run("ServiceRouteProviderFunction", provider, delete, cfn_context())
            account = answers.event("cfn-apigateway-account-create.json")  # a fresh account: the role is set
            log.run("ApiGatewayAccountFunction", load_handler("functions/provider"), account, cfn_context())
            assert [b["Status"] for b in answers.bodies] == ["SUCCESS"] * 3, answers.bodies
        finally:
            answers.close()
    default_reconciler.cache_clear()
    return log, stack


# ------------------------------------------------------------------ the checks


def in_mode(backend: str):
    """Whether a resource of template.yaml exists in that backend mode."""
    return Deployed(load_template(), **MODE_PARAMETERS[backend]).exists


def allowed(function_id: str, backend: str | None = None) -> tuple[list[dict], list[dict]]:
    """(Allow, Deny) statements of the function's role: in that backend mode, or in any mode (None)."""
    statements = role_statements(load_template()["Resources"], function_id,
                                 **({"present": in_mode(backend)} if backend else {}))
    return ([s for s in statements if s["Effect"] == "Allow"], [s for s in statements if s["Effect"] == "Deny"])


def resource_refs(statement: dict) -> str:
    return repr(statement["Resource"])


def permits(statement: dict, action: str, resource: str, settings) -> bool:
    if action not in as_list(statement["Action"]):
        return False
    text = resource_refs(statement)
    if action.startswith("dynamodb:") and resource:
        table = {settings.registry_table: "RegistryTable", settings.state_table: "StateTable"}.get(resource)
        return table is not None and table in text
    if action.startswith("apigateway:"):
        patterns = re.findall(r"::(/[^'\"]+)", text)
        for pattern in patterns:
            regex = re.escape(pattern).replace(re.escape("${RestApi}"), re.escape(settings.rest_api_id))
            regex = re.sub(r"\\\$\\\{\w+\\\}", r"[^/]+", regex).replace(r"\*", ".*")
            if re.fullmatch(regex, resource):
                return True
        return False
    return True


def test_every_call_is_allowed_by_the_role_of_the_function_that_makes_it(recorded):
    log, settings = recorded
    denied = []
    for function_id in sorted(FUNCTIONS):
        if function_id == "ServiceRouteProviderFunction" and not (ROOT / "functions/provider/app.py").is_file():
            continue  # lands with the CloudFormation front-end
        allow, deny = allowed(function_id, settings.backend)  # the policies the mode's stack has
        assert log.calls[function_id], f"{function_id} made no call: the flow did not run"
        for service, operation, params, client in log.calls[function_id]:
            for action, resource in iam_requests(service, operation, params, client, settings):
                if not any(permits(s, action, resource, settings) for s in allow) or \
                        any(permits(s, action, resource, settings) for s in deny):
                    denied.append(f"{function_id}: {service}.{operation} -> {action} {resource}")
    assert not denied, "the role would deny:\n" + "\n".join(sorted(set(denied)))


def grants(policy: list[dict]) -> set[tuple[str, str]]:
    """(action, table) for DynamoDB item actions (per table), (action, "") for everything else."""
    out = set()
    for s in policy:
        if s["Effect"] != "Allow":
            continue
        tables = [t for t in ("RegistryTable", "StateTable") if t in resource_refs(s)] or [""]
        for action in as_list(s["Action"]):
            for table in tables if action.startswith("dynamodb:") and action not in ALLOWANCE else [""]:
                out.add((action, table))
    return out


def called(log: CallLog, function_ids, settings) -> set[tuple[str, str]]:
    names = {settings.registry_table: "RegistryTable", settings.state_table: "StateTable"}
    return {(action, names.get(resource, "") if action.startswith("dynamodb:") else "")
            for fid in function_ids for service, operation, params, client in log.calls[fid]
            for action, resource in iam_requests(service, operation, params, client, settings)}


def test_no_policy_allows_an_action_nothing_needs(recorded):
    """The shared managed policies (ReconcilePolicy, LoadBalancerPoolPolicy) are judged by what the three
    functions call together; each role's own inline policy by what its function calls. Whatever is left
    must be in ALLOWANCE."""
    log, settings = recorded
    resources = load_template()["Resources"]
    present = [fid for fid in FUNCTIONS if log.calls[fid]]
    unexplained = set()
    exists = in_mode(settings.backend)
    for name in sorted(k for k, v in resources.items() if v["Type"] == "AWS::IAM::ManagedPolicy"):
        if not exists(name):
            continue
        shared = grants(statements(resources[name]["Properties"]["PolicyDocument"]))
        unexplained |= {f"{name}: {a} {t}".strip() for a, t in shared - called(log, present, settings)
                        if a not in ALLOWANCE and MODE_ACTIONS.get(a, settings.backend) == settings.backend}
    for fid in present:
        role = resources[resources[fid]["Properties"]["Role"]["Fn::GetAtt"][0]]["Properties"]
        own = grants([s for p in role.get("Policies", []) for s in statements(p["PolicyDocument"])])
        unexplained |= {f"{fid}: {a} {t}".strip() for a, t in own - called(log, [fid], settings)
                        if a not in ALLOWANCE}
    assert not unexplained, "allowed but never needed:\n" + "\n".join(sorted(unexplained))


def test_the_allowance_list_is_not_stale():
    """Every entry of ALLOWANCE is granted to some role: a reason for nothing is noise."""
    granted = {a for fid in FUNCTIONS for s in allowed(fid)[0] for a in as_list(s["Action"])}
    assert set(ALLOWANCE) <= granted, sorted(set(ALLOWANCE) - granted)
