"""ECS rules moto does not enforce and portico relies on, enforced as AWS does.

- CreateService / UpdateService with more than 5 `loadBalancers` (target groups per service,
  `PORTICO_EMULATOR_TARGET_GROUPS_PER_SERVICE`): moto accepts any number; AWS refuses with
  `InvalidParameterException` (400, "load balancers can have at most 5 items.").

Sources: the quota "Target groups per service: 5",
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html ; the error as AWS returns it,
quoted in https://github.com/hashicorp/terraform/issues/25306 ("InvalidParameterException: load balancers
can have at most 5 items."); the shape: botocore's ecs model (InvalidParameterException, `message`).
"""

from __future__ import annotations

from . import limit, wrap

TARGET_GROUPS = "PORTICO_EMULATOR_TARGET_GROUPS_PER_SERVICE"


def _check(load_balancers) -> None:
    from moto.ecs.exceptions import InvalidParameterException

    most = int(limit(TARGET_GROUPS, 5))
    if load_balancers is not None and len(load_balancers) > most:
        raise InvalidParameterException(f"load balancers can have at most {most} items.")


def _create_service(create_service):
    def wrapper(self, cluster_str, service_name, desired_count, task_definition_str=None, load_balancers=None,
                *args, **kwargs):
        _check(load_balancers)
        return create_service(self, cluster_str, service_name, desired_count, task_definition_str, load_balancers,
                              *args, **kwargs)

    return wrapper


def _update_service(update_service):
    def wrapper(self, service_properties):
        _check(service_properties.get("load_balancers"))
        return update_service(self, service_properties)

    return wrapper


def install() -> None:
    from moto.ecs.models import EC2ContainerServiceBackend

    wrap(EC2ContainerServiceBackend, "create_service", _create_service)
    wrap(EC2ContainerServiceBackend, "update_service", _update_service)
