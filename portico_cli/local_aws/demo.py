"""What a user brings to the local stack in the demo: an ECS cluster and its services, made through ECS's API as
a user would (`aws ecs create-service ...`); portico routes them once the registry names them."""

from __future__ import annotations

DEMO_CLUSTER = "demo"
DEMO_SERVICES = {"orders": 8080, "users": 8080, "catalog": 3000}


def create_demo_services(ecs, subnets: list[str], security_group: str, cluster: str = DEMO_CLUSTER,
                         services: dict[str, int] = DEMO_SERVICES) -> None:
    """An ECS cluster with one Fargate-style service per entry (container `app` on the given port)."""
    ecs.create_cluster(clusterName=cluster)
    existing = set()
    arns = ecs.list_services(cluster=cluster).get("serviceArns", [])
    if arns:
        existing = {s["serviceName"] for s in ecs.describe_services(cluster=cluster, services=arns[:10])["services"]
                    if s.get("status") == "ACTIVE"}
    for name, port in services.items():
        if name in existing:
            continue
        ecs.register_task_definition(
            family=name, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
            containerDefinitions=[{"name": "app", "image": f"public.ecr.aws/portico/{name}:latest", "essential": True,
                                   "portMappings": [{"containerPort": port, "protocol": "tcp"}]}])
        ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=name, desiredCount=1,
                           launchType="FARGATE", deploymentController={"type": "ECS"},
                           networkConfiguration={"awsvpcConfiguration": {
                               "subnets": subnets, "securityGroups": [security_group], "assignPublicIp": "DISABLED"}})


def create_in_local_network(endpoint: str, *, group_name: str = "portico-tasks",
                            services: dict[str, int] = DEMO_SERVICES) -> tuple[list[str], str]:
    """The demo's services in the VPC `portico local up` makes (stack.network), their tasks in a new security
    group of that VPC: (subnet ids, security group id)."""
    from portico_cli.local_aws.account import session
    from portico_cli.local_aws.stack import network

    vpc, subnets = network(endpoint)
    s = session(endpoint)
    group = s.client("ec2", endpoint_url=endpoint).create_security_group(
        GroupName=group_name, Description="portico demo tasks", VpcId=vpc)["GroupId"]
    create_demo_services(s.client("ecs", endpoint_url=endpoint), subnets, group, services=services)
    return subnets, group
