"""Observed state: what AWS and portico's ledger say now. Reads only, paginated and batched.

ELB and API Gateway are read whole (a free port or path can only be chosen knowing every listener and
resource, foreign ones included); ECS is read only for the services in scope, 10 per DescribeServices.
The product kinds' state is read here too: the reconciled stage, portico's alarms and its dashboard.
"""

from .reads import (
    observe,
    read_cognito_authorizer,
    read_ecs,
    read_load_balancers,
    read_product,
    read_resources,
    read_rules,
    read_tags,
    read_target_groups,
    task_definition,
)
from .values import (
    EcsService,
    Listener,
    LoadBalancer,
    Method,
    Observed,
    ProductObserved,
    Resource,
    Rule,
    StageState,
    TargetGroup,
    alarm_prefix,
    dashboard_name,
    dashboard_pages,
    ecs_key,
)

__all__ = [
    "EcsService", "Listener", "LoadBalancer", "Method", "Observed", "ProductObserved", "Resource", "Rule",
    "StageState", "TargetGroup", "alarm_prefix", "dashboard_name", "dashboard_pages", "ecs_key", "observe",
    "read_cognito_authorizer", "read_ecs", "read_load_balancers", "read_product", "read_resources",
    "read_rules", "read_tags", "read_target_groups", "task_definition",
]
