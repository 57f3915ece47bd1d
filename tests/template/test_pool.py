"""The NLB pool (issues 6 and 12): LoadBalancerCount NLBs behind one VPC link v2 (VpcLinkVersion v2, the
default), or each with its own VPC link v1 (v1, legacy, at most 4), or both (v1+v2, for `portico migrate-link`).

The template is evaluated for every allowed count the way CloudFormation would (template_support.Deployed:
conditions, Fn::If with AWS::NoValue, Fn::Join, Fn::Sub ...), with made-up physical ids, so that what the
functions receive is checked as values: N ARNs and N v1 link ids (link k targeting NLB k) or the one v2
link, and IAM listener permissions on every member of the pool and on nothing else. No tools, no AWS.
"""

from __future__ import annotations

import json
import re

import pytest
from template_support import FUNCTIONS, LINK, LINK_V2, NLB, RECONCILING, Deployed, as_list

from portico import settings as portico_settings

LISTENER_ACTIONS = ("elasticloadbalancing:CreateListener", "elasticloadbalancing:ModifyListener",
                    "elasticloadbalancing:DeleteListener", "elasticloadbalancing:AddTags")
MANAGED_POLICY_MAX_CHARS = 6144  # IAM quota: managed policy document, whitespace not counted

def pool(template: dict) -> list[str]:
    """The pool's NLB logical ids in pool order: LoadBalancer, LoadBalancer2, LoadBalancer3 ..."""
    ids = [k for k, v in template["Resources"].items() if v["Type"] == NLB and v["Properties"]["Type"] == "network"]
    return sorted(ids, key=lambda k: int(k.removeprefix("LoadBalancer") or 1))


def counts(template: dict) -> list[int]:
    return [int(v) for v in template["Parameters"]["LoadBalancerCount"]["AllowedValues"]]


def max_count(template: dict) -> int:
    return max(counts(template))


GROWTH = "LoadBalancerGrowthPolicy"
ALL_COUNTS = [1, 2, 3, 4, 5, 6]
V1_COUNTS = [1, 2, 3, 4]  # a VPC link v1 per NLB, 20 per region: the legacy pool keeps its size
MODES = {"v2": ALL_COUNTS, "v1": V1_COUNTS, "v1+v2": V1_COUNTS}
CASES = [(mode, count) for mode, allowed in MODES.items() for count in allowed]


# ------------------------------------------------------------------ the parameter and the members


def test_the_pool_parameter_allows_one_to_as_many_nlbs_as_the_template_declares(template):
    param = template["Parameters"]["LoadBalancerCount"]
    assert str(param["Default"]) == "1", "a new stack starts with one NLB"
    assert counts(template) == list(range(1, len(pool(template)) + 1)) == ALL_COUNTS
    version = template["Parameters"]["VpcLinkVersion"]
    assert version["Default"] == "v2" and version["AllowedValues"] == list(MODES), "new stacks take the v2 link"
    rule = template["Rules"]["VpcLinkV1PoolOfFour"]["Assertions"][0]["Assert"]
    assert rule == {"Fn::Contains": [[str(c) for c in V1_COUNTS], {"Ref": "LoadBalancerCount"}]}
    # 50 listeners per NLB, not adjustable: the pool's room is the reason for its size.
    assert max_count(template) * portico_settings.LISTENERS_PER_NLB >= 150, "past the ~150 services of one API"


def test_members_are_alike_share_one_security_group_and_v1_members_have_their_own_vpc_link(template, resources):
    first = resources["LoadBalancer"]
    assert first["Condition"] == "UseNlb" and resources["VpcLink"]["Condition"] == "HasVpcLinksV1"
    for k, lb_id in enumerate(pool(template), start=1):
        lb = resources[lb_id]
        assert lb["Properties"] == first["Properties"], f"{lb_id} differs from LoadBalancer"
        assert lb.get("Metadata") == first.get("Metadata"), f"{lb_id}: same checkov reasons"
        if k > 1:
            assert lb["Condition"] == f"HasLoadBalancer{k}"
    v2 = resources["VpcLinkV2"]
    assert v2["Type"] == LINK_V2 and v2["Properties"]["SubnetIds"] == {  # its own subnets only when given
        "Fn::If": ["HasVpcLinkSubnets", {"Ref": "VpcLinkSubnetIds"}, {"Ref": "SubnetIds"}]}
    assert v2["Properties"]["SecurityGroupIds"] == [{"Ref": "VpcLinkSecurityGroup"}]
    for k, lb_id in enumerate(pool(template)[:max(V1_COUNTS)], start=1):
        lb = resources[lb_id]
        assert lb["Properties"]["SecurityGroups"] == [{"Ref": "LoadBalancerSecurityGroup"}]
        link_id = "VpcLink" if k == 1 else f"VpcLink{k}"
        link = resources[link_id]
        assert link["Type"] == LINK
        assert link["Properties"]["TargetArns"] == [{"Ref": lb_id}], f"{link_id} targets {lb_id} only"
        if k > 1:
            assert link["Condition"] == f"HasVpcLink{k}"
    names = [json.dumps(resources["VpcLink" if k == 1 else f"VpcLink{k}"]["Properties"]["Name"])
             for k in range(1, max(V1_COUNTS) + 1)]
    assert len(set(names)) == len(names), "one VPC link name per member"


@pytest.mark.parametrize(("mode", "count"), CASES)
def test_member_k_exists_exactly_when_the_count_reaches_k(template, mode, count):
    stack = Deployed(template, LoadBalancerCount=count, VpcLinkVersion=mode)
    assert stack.of_type(NLB) == pool(template)[:count]
    assert len(stack.of_type(LINK)) == (count if "v1" in mode else 0)
    assert len(stack.of_type(LINK_V2)) == (1 if "v2" in mode else 0), "one v2 link, whatever the pool's size"


# ------------------------------------------------------------------ ALB mode: no NLB at all

NLB_POOL_OUTPUTS = re.compile(r"LoadBalancer(Arn|DnsName)\d?|LoadBalancerSecurityGroupId|VpcLinkIds?\d?")


@pytest.mark.parametrize("count", ALL_COUNTS)
def test_alb_mode_creates_no_nlb_no_nlb_group_no_listener_policy_and_no_nlb_output(template, count):
    """Backend=alb (on the v2 link) with any LoadBalancerCount: the ALB is the only load balancer; nothing of
    the pool is created, so nothing refers to it, and the link's group sends to the ALB only."""
    stack = Deployed(template, Backend="alb", VpcLinkVersion="v2", LoadBalancerCount=count)
    assert stack.of_type(NLB) == ["Alb"] and stack.resources["Alb"]["Properties"]["Type"] == "application"
    for gone in ("LoadBalancerSecurityGroup", "LoadBalancerIngressFromVpcLink", "LoadBalancerPoolPolicy"):
        assert not stack.exists(gone), gone
    # Every resource and output that exists resolves: no Ref or GetAtt names what ALB mode does not create.
    for name in stack.resources:
        if stack.exists(name):
            stack.resolve(stack.resources[name].get("Properties", {}))
    outputs = {name: stack.resolve(out["Value"]) for name, out in template["Outputs"].items()
               if out.get("Condition") is None or stack.condition(out["Condition"])}
    assert not [name for name in outputs if NLB_POOL_OUTPUTS.fullmatch(name)], sorted(outputs)
    env = stack.function_env("SweeperFunction")
    assert outputs["LoadBalancerArns"] == env[portico_settings.LOAD_BALANCER_ARNS] == outputs["AlbArn"]
    # The link's group: no rule to an NLB group, and not EC2's allow-all default (a group created without an
    # egress rule gets it): the one inline rule matches no packet, VpcLinkEgressToAlb is the way to the ALB.
    [inline] = stack.resolve(stack.resources["VpcLinkSecurityGroup"]["Properties"]["SecurityGroupEgress"])
    assert (inline["IpProtocol"], inline["CidrIp"], "DestinationSecurityGroupId" in inline) == (
        "icmp", "255.255.255.255/32", False)
    assert stack.exists("VpcLinkEgressToAlb")
    for function_id in RECONCILING:  # a listener only on an ALB portico added (tagged portico:pool): GROWTH's
        granted = {a for s in stack.role_statements(function_id) if not s.get("Sid", "").startswith("Pool")
                   for a in as_list(s["Action"])}
        assert "elasticloadbalancing:CreateListener" not in granted, f"{function_id}: ALB mode creates no listener"


def test_nlb_mode_has_the_pool_and_no_alb(template):
    stack = Deployed(template)
    assert stack.condition("UseNlb") and not stack.condition("UseAlb")
    assert stack.of_type(NLB) == ["LoadBalancer"]
    assert all(stack.exists(k) for k in ("LoadBalancerSecurityGroup", "LoadBalancerIngressFromVpcLink",
                                         "LoadBalancerPoolPolicy"))
    [inline] = stack.resolve(stack.resources["VpcLinkSecurityGroup"]["Properties"]["SecurityGroupEgress"])
    assert inline["DestinationSecurityGroupId"] == stack.ref("LoadBalancerSecurityGroup")


# ------------------------------------------------------------------ what the functions receive


def pool_of(stack: Deployed, env: dict[str, str]) -> tuple[list[str], list[str]]:
    arns = env[portico_settings.LOAD_BALANCER_ARNS].split(",")
    links = [link for link in env[portico_settings.VPC_LINK_IDS].split(",") if link]
    return arns, links


@pytest.mark.parametrize(("mode", "count"), CASES)
@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_functions_get_the_pool_and_its_links_in_the_same_order(template, function_id, mode, count):
    stack = Deployed(template, LoadBalancerCount=count, VpcLinkVersion=mode)
    env = stack.function_env(function_id)
    arns, links = pool_of(stack, env)
    assert arns == [stack.ref(lb) for lb in pool(template)[:count]], "pool order: NLB 1 first"
    assert len(set(arns)) == count and len(links) == len(set(links)) == (count if "v1" in mode else 0)
    targets = {stack.ref(link): stack.resolve(stack.resources[link]["Properties"]["TargetArns"])
               for link in stack.of_type(LINK)}
    for k, (arn, link) in enumerate(zip(arns, links, strict=False), start=1):
        assert targets[link] == [arn], f"item {k}: {link} does not lead to {arn}"
    v2 = stack.ref("VpcLinkV2") if "v2" in mode else ""
    assert env[portico_settings.VPC_LINK_V2_ID] == v2
    assert env[portico_settings.VPC_LINK_VERSION] == ("v2" if mode == "v2" else "v1")
    # ... and the library reads them as one pool: on v2 each NLB is the integration's target.
    settings = portico_settings.Settings.from_env(env).check()
    want = {arn: (v2, arn) for arn in arns} if mode == "v2" else {arn: (link, None) for arn, link in zip(
        arns, links, strict=True)}
    assert settings.links() == want


def test_at_the_maximum_every_function_gets_every_member(template):
    stack = Deployed(template, LoadBalancerCount=max_count(template))
    for function_id in FUNCTIONS:
        arns, _ = pool_of(stack, stack.function_env(function_id))
        assert len(arns) == len(pool(template)) == max_count(template), function_id


@pytest.mark.parametrize(("mode", "count"), CASES)
def test_outputs_list_the_pool_as_the_functions_see_it(template, mode, count):
    stack = Deployed(template, LoadBalancerCount=count, VpcLinkVersion=mode)
    env = stack.function_env("SweeperFunction")
    outputs = template["Outputs"]
    assert stack.resolve(outputs["LoadBalancerArns"]["Value"]) == env[portico_settings.LOAD_BALANCER_ARNS]
    shown = {name for name, out in outputs.items() if out.get("Condition") is None or
             stack.condition(out["Condition"])}
    assert ("VpcLinkIds" in shown) == ("VpcLinkId" in shown) == ("v1" in mode)
    assert ("VpcLinkV2Id" in shown) == ("v2" in mode)
    if "v1" in mode:
        assert stack.resolve(outputs["VpcLinkIds"]["Value"]) == env[portico_settings.VPC_LINK_IDS]
    if "v2" in mode:
        assert stack.resolve(outputs["VpcLinkV2Id"]["Value"]) == env[portico_settings.VPC_LINK_V2_ID]
    arns, links = pool_of(stack, env)
    for k in range(1, max_count(template) + 1):
        suffix = "" if k == 1 else str(k)
        names = [f"LoadBalancerArn{suffix}", f"LoadBalancerDnsName{suffix}"]
        names += [f"VpcLinkId{suffix}"] if k <= max(V1_COUNTS) else []
        for name in names:
            out = outputs[name]
            assert out.get("Description") and "Export" in out, name
            present = name in shown
            assert present == (k <= count and (not name.startswith("VpcLinkId") or "v1" in mode)), \
                f"{name} with {count} NLB(s) on {mode}"
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
        if s["Effect"] != "Allow" or not actions or "*" in resources or s["Sid"].startswith("Pool"):
            continue  # Pool*: the load balancers portico adds, by their tag (test_growth_policy_...)
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


@pytest.mark.parametrize("policy_id", ["ReconcilePolicy", "LoadBalancerPoolPolicy", GROWTH])
def test_managed_policies_fit_the_iam_quota_at_the_maximum(template, policy_id):
    """IAM refuses a managed policy document over 6,144 characters (whitespace not counted). With every
    member of the pool, the longest stack name CloudFormation allows (128) and three clusters, each
    resolved policy must still fit."""
    stack = Deployed(template, stack="portico-" + "x" * 120, LoadBalancerCount=max_count(template),
                     ClusterNames="services-prod-a,services-prod-b,services-prod-c")
    size = len(re.sub(r"\s", "", json.dumps(stack.policy(policy_id), separators=(",", ":"))))
    assert size <= MANAGED_POLICY_MAX_CHARS, f"{policy_id} resolves to {size} characters"


# ------------------------------------------------------------------ the pool that grows itself (MaxLoadBalancers)


@pytest.mark.parametrize(("backend", "mode"), [("nlb", "v2"), ("alb", "v2"), ("nlb", "v1"), ("nlb", "v1+v2")])
def test_growth_policy_exists_on_v2_only_and_acts_on_the_load_balancers_portico_tagged_only(template, backend, mode):
    stack = Deployed(template, Backend=backend, VpcLinkVersion=mode)
    assert stack.exists(GROWTH) == (mode == "v2"), "a pool on VPC links v1 does not grow"
    env = stack.function_env("SweeperFunction")
    settings = portico_settings.Settings.from_env(env).check()
    assert settings.max_load_balancers == int(template["Parameters"]["MaxLoadBalancers"]["Default"])
    assert settings.pool_size == (settings.max_load_balancers if mode == "v2" else 1)
    assert settings.rules_per_load_balancer == 100
    if mode != "v2":
        return
    for function_id in RECONCILING:
        assert any(s.get("Sid") == "PoolCreateLoadBalancer" for s in stack.role_statements(function_id)), function_id
    rules = [s for s in stack.policy("AlbRulesPolicy")["Statement"] if s["Sid"].startswith("Pool")] \
        if backend == "alb" else []
    assert bool(rules) == (backend == "alb"), "rules on the ALBs portico adds: ALB mode only"
    for s in stack.policy(GROWTH)["Statement"] + rules:
        cond = s["Condition"]
        on_lbs = any(":loadbalancer/" in r for r in as_list(s["Resource"]))
        actions = set(as_list(s["Action"]))
        if actions == {"elasticloadbalancing:CreateLoadBalancer"}:
            assert cond["Null"] == {"aws:RequestTag/portico:pool": "false"}, s["Sid"]
        elif on_lbs and actions != {"elasticloadbalancing:AddTags"}:  # never the template's: no portico:pool tag
            assert cond["Null"] == {"aws:ResourceTag/portico:pool": "false"}, s["Sid"]
        if "elasticloadbalancing:AddTags" in actions:
            assert "elasticloadbalancing:CreateAction" in cond["StringEquals"], s["Sid"]
        if actions == {"elasticloadbalancing:CreateRule"} and any(":listener/" in r for r in as_list(s["Resource"])):
            assert cond["Null"] == {"aws:ResourceTag/portico:pool": "false"}, "rules only on an added ALB's listener"
        stack_key = next(k for k in cond["StringEquals"] if k.endswith("/portico:stack"))
        assert cond["StringEquals"][stack_key] == stack.ref("AWS::StackName"), s["Sid"]
    for lb in stack.of_type(NLB):
        tags = {t["Key"] for t in stack.resolve(stack.resources[lb]["Properties"].get("Tags", []))}
        assert "portico:pool" not in tags, f"{lb}: the template's load balancers are never portico's to delete"


def test_the_docs_give_the_pool_sizes_the_template_allows(template):
    """One truth for the pool: docs/modes.md says the sizes once ("Pool sizes and quotas"), with the template's
    values (LoadBalancerCount, the v1 rule's list, MaxLoadBalancers and RulesPerAlb defaults); deploy.md,
    bench.md and the template's descriptions point there instead of repeating them."""
    from template_support import ROOT

    v2_max = max_count(template)
    rule = template["Rules"]["VpcLinkV1PoolOfFour"]["Assertions"][0]["Assert"]["Fn::Contains"][0]
    v1_max = max(int(v) for v in rule)
    assert (v2_max, v1_max) == (max(ALL_COUNTS), max(V1_COUNTS))
    grow, rules = (int(template["Parameters"][p]["Default"]) for p in ("MaxLoadBalancers", "RulesPerAlb"))
    modes = (ROOT / "docs/modes.md").read_text()
    section = modes[modes.index("## Pool sizes and quotas"):]
    section = section[:section.find("\n## ", 4) if "\n## " in section[4:] else len(section)]
    for fact in (f"`LoadBalancerCount` 1–{v2_max}", f"1–{v1_max} NLBs, a VPC link v1 each",
                 f"`MaxLoadBalancers` (default {grow}", f"`RulesPerAlb` (default {rules})",
                 f"{grow} × {portico_settings.LISTENERS_PER_NLB} = {grow * portico_settings.LISTENERS_PER_NLB:,}",
                 f"{grow} × {rules} = {grow * rules:,}"):
        assert fact in section, fact
    for doc in ("docs/deploy.md", "docs/bench.md"):
        text = (ROOT / doc).read_text()
        assert "modes.md#pool-sizes-and-quotas" in text, f"{doc} points to the one statement of the pool sizes"
        assert not re.search(r"\b1[–-]6\b|\b1[–-]4\b", text), f"{doc} repeats a pool size"
    for param in ("LoadBalancerCount", "MaxLoadBalancers", "Backend"):
        assert "docs/modes.md" in template["Parameters"][param]["Description"], param
