"""The NLB pool (issue 6, "Scale past one NLB"): LoadBalancerCount NLBs, each with its own VPC link v1.

The template is evaluated for every allowed count the way CloudFormation would (template_support.Deployed:
conditions, Fn::If with AWS::NoValue, Fn::Join, Fn::Sub ...), with made-up physical ids, so that what the
functions receive is checked as values: N ARNs and N link ids, link k targeting NLB k, and IAM listener
permissions on every member of the pool and on nothing else. No tools, no AWS.
"""

from __future__ import annotations

import json
import re

import pytest
from template_support import FUNCTIONS, LINK, NLB, RECONCILING, Deployed, as_list

from portico import settings as portico_settings

LISTENER_ACTIONS = ("elasticloadbalancing:CreateListener", "elasticloadbalancing:ModifyListener",
                    "elasticloadbalancing:DeleteListener", "elasticloadbalancing:AddTags")
MANAGED_POLICY_MAX_CHARS = 6144  # IAM quota: managed policy document, whitespace not counted

def pool(template: dict) -> list[str]:
    """The pool's NLB logical ids in pool order: LoadBalancer, LoadBalancer2, LoadBalancer3 ..."""
    ids = [k for k, v in template["Resources"].items() if v["Type"] == NLB]
    return sorted(ids, key=lambda k: int(k.removeprefix("LoadBalancer") or 1))


def counts(template: dict) -> list[int]:
    return [int(v) for v in template["Parameters"]["LoadBalancerCount"]["AllowedValues"]]


def max_count(template: dict) -> int:
    return max(counts(template))


ALL_COUNTS = [1, 2, 3, 4]


# ------------------------------------------------------------------ the parameter and the members


def test_the_pool_parameter_allows_one_to_as_many_nlbs_as_the_template_declares(template):
    param = template["Parameters"]["LoadBalancerCount"]
    assert str(param["Default"]) == "1", "a new stack starts with one NLB (and one of the 20 VPC links)"
    assert counts(template) == list(range(1, len(pool(template)) + 1)) == ALL_COUNTS
    # 50 listeners per NLB, not adjustable: the pool's room is the reason for its size.
    assert max_count(template) * portico_settings.LISTENERS_PER_NLB >= 150, "past the ~150 services of one API"


def test_members_are_alike_share_one_security_group_and_each_has_its_own_vpc_link(template, resources):
    first = resources["LoadBalancer"]
    assert "Condition" not in first and "Condition" not in resources["VpcLink"]
    for k, lb_id in enumerate(pool(template), start=1):
        lb = resources[lb_id]
        assert lb["Properties"] == first["Properties"], f"{lb_id} differs from LoadBalancer"
        assert lb["Properties"]["SecurityGroups"] == [{"Ref": "LoadBalancerSecurityGroup"}]
        assert lb.get("Metadata") == first.get("Metadata"), f"{lb_id}: same checkov reasons"
        link_id = "VpcLink" if k == 1 else f"VpcLink{k}"
        link = resources[link_id]
        assert link["Type"] == LINK
        assert link["Properties"]["TargetArns"] == [{"Ref": lb_id}], f"{link_id} targets {lb_id} only"
        if k > 1:
            assert lb["Condition"] == link["Condition"] == f"HasLoadBalancer{k}"
    names = [json.dumps(resources["VpcLink" if k == 1 else f"VpcLink{k}"]["Properties"]["Name"])
             for k in range(1, len(pool(template)) + 1)]
    assert len(set(names)) == len(names), "one VPC link name per member"


@pytest.mark.parametrize("count", ALL_COUNTS)
def test_member_k_exists_exactly_when_the_count_reaches_k(template, count):
    stack = Deployed(template, LoadBalancerCount=count)
    assert stack.of_type(NLB) == pool(template)[:count]
    assert len(stack.of_type(LINK)) == count


# ------------------------------------------------------------------ what the functions receive


def pool_of(stack: Deployed, env: dict[str, str]) -> tuple[list[str], list[str]]:
    arns = env[portico_settings.LOAD_BALANCER_ARNS].split(",")
    links = env[portico_settings.VPC_LINK_IDS].split(",")
    return arns, links


@pytest.mark.parametrize("count", ALL_COUNTS)
@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_functions_get_n_arns_and_n_link_ids_in_the_same_order(template, function_id, count):
    stack = Deployed(template, LoadBalancerCount=count)
    env = stack.function_env(function_id)
    arns, links = pool_of(stack, env)
    assert arns == [stack.ref(lb) for lb in pool(template)[:count]], "pool order: NLB 1 first"
    assert len(links) == count == len(set(links)) == len(set(arns))
    targets = {stack.ref(link): stack.resolve(stack.resources[link]["Properties"]["TargetArns"])
               for link in stack.of_type(LINK)}
    for k, (arn, link) in enumerate(zip(arns, links, strict=True), start=1):
        assert targets[link] == [arn], f"item {k}: {link} does not lead to {arn}"
    # ... and the library reads them as one aligned pool.
    settings = portico_settings.Settings.from_env(env).check()
    assert settings.load_balancer_arns == tuple(arns) and settings.vpc_link_ids == tuple(links)


def test_at_the_maximum_every_function_gets_every_member(template):
    stack = Deployed(template, LoadBalancerCount=max_count(template))
    for function_id in FUNCTIONS:
        arns, links = pool_of(stack, stack.function_env(function_id))
        assert len(arns) == len(links) == len(pool(template)) == max_count(template), function_id


@pytest.mark.parametrize("count", ALL_COUNTS)
def test_outputs_list_the_pool_as_the_functions_see_it(template, count):
    stack = Deployed(template, LoadBalancerCount=count)
    env = stack.function_env("SweeperFunction")
    outputs = template["Outputs"]
    assert stack.resolve(outputs["LoadBalancerArns"]["Value"]) == env[portico_settings.LOAD_BALANCER_ARNS]
    assert stack.resolve(outputs["VpcLinkIds"]["Value"]) == env[portico_settings.VPC_LINK_IDS]
    arns, links = pool_of(stack, env)
    for k in range(1, max_count(template) + 1):
        suffix = "" if k == 1 else str(k)
        for name in (f"LoadBalancerArn{suffix}", f"LoadBalancerDnsName{suffix}", f"VpcLinkId{suffix}"):
            out = outputs[name]
            assert out.get("Description") and "Export" in out, name
            present = out.get("Condition") is None or stack.condition(out["Condition"])
            assert present == (k <= count), f"{name} with {count} NLB(s)"
            if present and not name.startswith("LoadBalancerDnsName"):
                expected = arns[k - 1] if name.startswith("LoadBalancerArn") else links[k - 1]
                assert stack.resolve(out["Value"]) == expected, name


# ------------------------------------------------------------------ IAM: listener actions on the pool


def listener_arns(stack: Deployed, lb_ids: list[str]) -> set[str]:
    return {f"arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/{stack.lb_full_name(lb)}/*"
            for lb in lb_ids}


@pytest.mark.parametrize("count", ALL_COUNTS)
@pytest.mark.parametrize("function_id", RECONCILING)
def test_listener_statements_cover_every_pool_nlb_and_nothing_else(template, function_id, count):
    stack = Deployed(template, LoadBalancerCount=count)
    members = pool(template)[:count]
    nlbs, listeners = {stack.ref(lb) for lb in members}, listener_arns(stack, members)
    seen = set()
    for s in stack.role_statements(function_id):
        actions = set(as_list(s["Action"])) & set(LISTENER_ACTIONS)
        resources = set(as_list(s["Resource"]))
        if s["Effect"] != "Allow" or not actions or "*" in resources:
            continue
        on_nlbs = {r for r in resources if ":loadbalancer/" in r}
        on_listeners = {r for r in resources if ":listener/" in r}
        assert on_nlbs <= nlbs and on_listeners <= listeners, f"{s['Sid']}: outside the pool"
        if on_listeners:
            assert on_listeners == listeners, f"{s['Sid']}: not every member of the pool of {count}"
            seen |= {(a, "listener") for a in actions}
        if on_nlbs:
            assert on_nlbs == nlbs, f"{s['Sid']}: not every member of the pool of {count}"
            seen |= {(a, "loadbalancer") for a in actions}
    wanted = {(a, "listener") for a in LISTENER_ACTIONS} | {("elasticloadbalancing:CreateListener", "loadbalancer")}
    assert seen == wanted, f"not granted on the whole pool: {sorted(wanted - seen)}"


@pytest.mark.parametrize("policy_id", ["ReconcilePolicy", "LoadBalancerPoolPolicy"])
def test_managed_policies_fit_the_iam_quota_at_the_maximum(template, policy_id):
    """IAM refuses a managed policy document over 6,144 characters (whitespace not counted). With every
    member of the pool, the longest stack name CloudFormation allows (128) and three clusters, each
    resolved policy must still fit."""
    stack = Deployed(template, stack="portico-" + "x" * 120, LoadBalancerCount=max_count(template),
                     ClusterNames="services-prod-a,services-prod-b,services-prod-c")
    size = len(re.sub(r"\s", "", json.dumps(stack.policy(policy_id), separators=(",", ":"))))
    assert size <= MANAGED_POLICY_MAX_CHARS, f"{policy_id} resolves to {size} characters"
