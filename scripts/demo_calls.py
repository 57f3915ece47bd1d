"""The demo's own steps: the ECS services it routes, and real HTTP requests through the local API Gateway.

`python -m scripts.demo_calls services`  makes the ECS cluster `demo` and its three services in the local
                                     VPC (what a user brings: `portico local up` deploys portico only);

`python -m scripts.demo_calls wait`  shortens the routed target groups' health checks to what AWS allows at
                                     least (5 s, 2 checks; AWS's default is 30 s × 5) and waits until every
                                     routed service has a healthy target (bounded);
`python -m scripts.demo_calls call [PATH...]`  calls each route of the dev stage with httpx: without
                                     credentials, then with what its auth needs (x-api-key from
                                     PORTICO_PROBE_API_KEY, SigV4); then each PATH as it is;
`python -m scripts.demo_calls domains PATH [HEADER:VALUE]`  calls PATH on each stage's custom domain
                                     (PORTICO_DOMAINS) by its Host header, then on each with the header.
Reads .portico/local.env, as the CLI does.
"""

from __future__ import annotations

import os
import sys
import time

import boto3
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from dotenv import load_dotenv

from portico.registry import Registry
from portico_cli.local_aws.dataplane.process import GATEWAY_URL_ENV
from portico_cli.local_aws.demo import DEMO_CLUSTER, DEMO_SERVICES, create_demo_services

WAIT_SECONDS = 90


def _clients():
    load_dotenv(".portico/local.env", override=False)
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    return {n: boto3.client(n, endpoint_url=endpoint) for n in ("elbv2", "dynamodb", "ec2")}


def _routed(ddb) -> dict[str, dict]:
    items = Registry(ddb, os.environ.get("PORTICO_REGISTRY_TABLE", "portico-registry")).scan()
    return {k: v for k, v in sorted(items.items()) if v.get("status") == "READY"}


def services(*_: str) -> int:
    """What the demo's user brings: an ECS cluster `demo` with three services in the local VPC's subnets (their
    tasks' security group `portico-tasks`), made as they would make them."""
    c = {**_clients(), "ecs": boto3.client("ecs", endpoint_url=os.environ["AWS_ENDPOINT_URL"])}
    vpc = os.environ["PORTICO_VPC_ID"]
    subnets = [sn["SubnetId"] for sn in c["ec2"].describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    found = c["ec2"].describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                       {"Name": "group-name", "Values": ["portico-tasks"]}])
    group = found["SecurityGroups"][0]["GroupId"] if found["SecurityGroups"] else c["ec2"].create_security_group(
        GroupName="portico-tasks", Description="portico demo tasks", VpcId=vpc)["GroupId"]
    create_demo_services(c["ecs"], subnets, group)
    print(f"ECS cluster {DEMO_CLUSTER} with services {', '.join(DEMO_SERVICES)} (aws ecs create-service ...)")
    return 0


def wait(*_: str) -> int:
    c = _clients()
    routed = _routed(c["dynamodb"])
    for item in routed.values():
        c["elbv2"].modify_target_group(TargetGroupArn=item["targetGroupArn"], HealthCheckIntervalSeconds=5,
                                       HealthyThresholdCount=2)
    print(f"health checks of {', '.join(routed)}: every 5 s, healthy after 2 (aws elbv2 modify-target-group)")
    _admit_nlb(c["ec2"], {int(i["containerPort"]) for i in routed.values()})
    deadline, pending = time.monotonic() + WAIT_SECONDS, dict(routed)
    while pending and time.monotonic() < deadline:
        for name, item in list(pending.items()):
            states = [d["TargetHealth"]["State"] for d in c["elbv2"].describe_target_health(
                TargetGroupArn=item["targetGroupArn"])["TargetHealthDescriptions"]]
            if "healthy" in states:
                print(f"  {name}: {states.count('healthy')}/{len(states)} target(s) healthy")
                del pending[name]
        time.sleep(0.5)
    for name in pending:
        print(f"  {name}: no healthy target after {WAIT_SECONDS} s", file=sys.stderr)
    return 1 if pending else 0


def _admit_nlb(ec2, ports: set[int]) -> None:
    """The demo tasks' security group admits the VPC (the NLB's subnets) on the container ports: the fix
    `portico doctor` prints when it does not."""
    vpc = ec2.describe_vpcs(VpcIds=[os.environ["PORTICO_VPC_ID"]])["Vpcs"][0]
    group = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]},
                                                  {"Name": "group-name", "Values": ["portico-tasks"]}])
    sg = group["SecurityGroups"][0]
    have = {p.get("FromPort") for p in sg.get("IpPermissions", [])}
    for port in sorted(ports - have):
        ec2.authorize_security_group_ingress(GroupId=sg["GroupId"], IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": vpc["CidrBlock"]}]}])
        print(f"aws ec2 authorize-security-group-ingress --group-id {sg['GroupId']} --protocol tcp --port {port} "
              f"--cidr {vpc['CidrBlock']}")


def _show(label: str, resp: httpx.Response) -> None:
    print(f"  {label:<44} → {resp.status_code} {resp.text[:160]}")


def call(*extra: str) -> int:
    c = _clients()
    base = os.environ[GATEWAY_URL_ENV] + "/" + os.environ.get("PORTICO_STAGE", "dev")
    key = os.environ.get("PORTICO_PROBE_API_KEY", "")
    creds = boto3.Session().get_credentials()
    with httpx.Client(trust_env=False, timeout=10) as http:
        for name, item in _routed(c["dynamodb"]).items():
            path, auth = item["path"], item.get("auth", "API_KEY")
            print(f"{name} ({auth}) at {base}{path}")
            _show(f"GET {path}/items/42?x=1", http.get(f"{base}{path}/items/42?x=1"))
            if auth == "API_KEY":
                _show(f"GET {path}/items/42?x=1 with x-api-key", http.get(f"{base}{path}/items/42?x=1",
                                                                         headers={"x-api-key": key}))
            elif auth == "IAM":
                request = AWSRequest(method="GET", url=f"{base}{path}/items/42?x=1")
                SigV4Auth(creds, "execute-api", os.environ.get("AWS_DEFAULT_REGION", "us-east-1")).add_auth(request)
                _show(f"GET {path}/items/42?x=1 signed (SigV4)", http.get(request.url, headers=dict(request.headers)))
            elif auth == "NONE":
                _show(f"POST {path}/carts", http.post(f"{base}{path}/carts", json={"sku": "A-1", "qty": 2}))
        for path in extra:  # routes that are no longer served
            _show(f"GET {path}", http.get(f"{base}{path}"))
    return 0


def domains(path: str, header: str = "") -> int:
    """PATH on each custom domain, as a client of api.example.com reaches it: the gateway's address, the Host."""
    _clients()
    gateway = os.environ[GATEWAY_URL_ENV]
    pairs = [p.split("=", 1) for p in os.environ.get("PORTICO_DOMAINS", "").split(",") if p]
    name, _, value = header.partition(":")
    with httpx.Client(trust_env=False, timeout=10) as http:
        for stage, host in pairs:
            print(f"https://{host}{path} (stage {stage}): curl -H 'Host: {host}' {gateway}{path}")
            _show(f"GET {path}", http.get(f"{gateway}{path}", headers={"Host": host}))
            if header:
                _show(f"GET {path} with {name}: {value}", http.get(f"{gateway}{path}",
                                                                  headers={"Host": host, name: value}))
    return 0


if __name__ == "__main__":
    sys.exit({"services": services, "wait": wait, "call": call, "domains": domains}[sys.argv[1]](*sys.argv[2:]))
