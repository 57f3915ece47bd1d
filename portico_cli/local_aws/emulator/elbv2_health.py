"""Target group health check settings AWS refuses and moto accepts, refused as AWS does.

- CreateTargetGroup / ModifyTargetGroup with HealthCheckIntervalSeconds outside 5-300, HealthCheckTimeoutSeconds
  outside 2-120, or HealthyThresholdCount / UnhealthyThresholdCount outside 2-10: moto stores any value (botocore
  checks only the minimums, client-side); AWS refuses with `ValidationError` (400) in its request-validation
  words. Ranges: botocore's elbv2 model and
  https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html and
  https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_ModifyTargetGroup.html
- ModifyTargetGroup leaving a timeout not less than the interval: moto checks this only on create; AWS refuses
  it on either ("Health check timeout '10' must be smaller than the interval '10'" from ModifyTargetGroup,
  https://github.com/hashicorp/terraform-provider-aws/issues/2366). The message and the protocols the strict
  rule applies to (HTTP and HTTPS target groups; others may be equal) are moto's create-time ones.
"""

from __future__ import annotations

from . import wrap

RANGES = {  # moto's argument -> (AWS's parameter, least, most)
    "interval": ("healthCheckIntervalSeconds", 5, 300), "timeout": ("healthCheckTimeoutSeconds", 2, 120),
    "healthy": ("healthyThresholdCount", 2, 10), "unhealthy": ("unhealthyThresholdCount", 2, 10),
}


def _in_range(values: dict) -> None:
    from moto.elbv2.exceptions import ValidationError

    for key, value in values.items():
        name, lo, hi = RANGES[key]
        if value is None:
            continue
        if int(value) < lo:
            raise ValidationError(f"1 validation error detected: Value '{value}' at '{name}' failed to satisfy "
                                  f"constraint: Member must have value greater than or equal to {lo}")
        if int(value) > hi:
            raise ValidationError(f"1 validation error detected: Value '{value}' at '{name}' failed to satisfy "
                                  f"constraint: Member must have value less than or equal to {hi}")


def _create_target_group(create_target_group):
    def wrapper(self, name, **kwargs):
        _in_range({"interval": kwargs.get("healthcheck_interval_seconds"),
                   "timeout": kwargs.get("healthcheck_timeout_seconds"),
                   "healthy": kwargs.get("healthy_threshold_count"),
                   "unhealthy": kwargs.get("unhealthy_threshold_count")})
        return create_target_group(self, name, **kwargs)

    return wrapper


def _modify_target_group(modify_target_group):
    def wrapper(self, arn, health_check_proto=None, health_check_port=None, health_check_path=None,
                health_check_interval=None, health_check_timeout=None, healthy_threshold_count=None,
                unhealthy_threshold_count=None, *args, **kwargs):
        from moto.elbv2.exceptions import ValidationError

        _in_range({"interval": health_check_interval, "timeout": health_check_timeout,
                   "healthy": healthy_threshold_count, "unhealthy": unhealthy_threshold_count})
        tg = self.target_groups.get(arn)
        if tg is not None:
            interval = int(health_check_interval or tg.health_check_interval_seconds)
            timeout = int(health_check_timeout or tg.health_check_timeout_seconds)
            strict = tg.protocol in ("HTTP", "HTTPS")
            if timeout > interval or (strict and timeout == interval):
                raise ValidationError(f"Health check timeout '{timeout}' must be smaller than "
                                      f"{'' if strict else 'or equal to '}the interval '{interval}'")
        return modify_target_group(self, arn, health_check_proto, health_check_port, health_check_path,
                                   health_check_interval, health_check_timeout, healthy_threshold_count,
                                   unhealthy_threshold_count, *args, **kwargs)

    return wrapper


def install() -> None:
    from moto.elbv2.models import ELBv2Backend

    wrap(ELBv2Backend, "create_target_group", _create_target_group)
    wrap(ELBv2Backend, "modify_target_group", _modify_target_group)
