"""ECS rules moto does not enforce and portico relies on, enforced as AWS does.

- CreateService / UpdateService with more than 5 `loadBalancers` (target groups per service,
  `PORTICO_EMULATOR_TARGET_GROUPS_PER_SERVICE`): moto accepts any number; AWS refuses with
  `InvalidParameterException` (400, "load balancers can have at most 5 items.").

- CreateService whose network configuration does not suit its task definition's network mode: moto accepts an
  awsvpc service without one, and a bridge or host service with one; AWS refuses both with
  `InvalidParameterException`: "Network Configuration must be provided when networkMode 'awsvpc' is specified."
  and "Network Configuration is not valid for the given networkMode of this task definition." portico relies on
  it: a service's `awsvpcConfiguration` tells it the network mode of a task definition it has not read yet
  (observed.read_ecs).

Sources: the quota "Target groups per service: 5",
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-quotas.html ; the error as AWS returns it,
quoted in https://github.com/hashicorp/terraform/issues/25306 ("InvalidParameterException: load balancers
can have at most 5 items."); the shape: botocore's ecs model (InvalidParameterException, `message`). The
network configuration: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CreateService.html
(networkConfiguration: "required for task definitions that use the awsvpc network mode ..., and it isn't supported
for other network modes"); the two messages as AWS returns them, quoted in
https://github.com/tryretool/retool-onpremise/pull/84 (CreateService) and
https://github.com/DataDog/test-infra-definitions/pull/57 (creating an ECS service, bridge mode).
"""

from __future__ import annotations

from . import limit, wrap

TARGET_GROUPS = "PORTICO_EMULATOR_TARGET_GROUPS_PER_SERVICE"


def _check(load_balancers) -> None:
    from moto.ecs.exceptions import InvalidParameterException

    most = int(limit(TARGET_GROUPS, 5))
    if load_balancers is not None and len(load_balancers) > most:
        raise InvalidParameterException(f"load balancers can have at most {most} items.")


def _check_network(backend, task_definition_str, network_configuration) -> None:
    from moto.ecs.exceptions import InvalidParameterException

    awsvpc = backend.describe_task_definition(task_definition_str).network_mode == "awsvpc"
    given = bool((network_configuration or {}).get("awsvpcConfiguration"))
    if awsvpc and not given:
        raise InvalidParameterException("Network Configuration must be provided when networkMode 'awsvpc' is "
                                        "specified.")
    if given and not awsvpc:
        raise InvalidParameterException("Network Configuration is not valid for the given networkMode of this "
                                        "task definition.")


def _create_service_call(create_service):  # the API's CreateService (moto's CloudFormation drops the network)
    def wrapper(self):
        if self._get_param("taskDefinition"):
            _check_network(self.ecs_backend, self._get_param("taskDefinition"),
                           self._get_param("networkConfiguration"))
        return create_service(self)

    return wrapper


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
    from moto.ecs.responses import EC2ContainerServiceResponse

    wrap(EC2ContainerServiceResponse, "create_service", _create_service_call)
    wrap(EC2ContainerServiceBackend, "create_service", _create_service)
    wrap(EC2ContainerServiceBackend, "update_service", _update_service)
