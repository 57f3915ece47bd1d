"""An AWS model to switch on: each call takes AWS-like time, and each API answers within its documented request rate.

Off by default (moto answers as fast as it can, and the suite stays fast); on with `PORTICO_EMULATOR_AWS_MODEL=1`.
Like the quotas in the package docstring, every variable is read on every call:

| variable | default | what |
|---|---|---|
| `PORTICO_EMULATOR_AWS_MODEL` | off | `1` switches the model on |
| `PORTICO_EMULATOR_LATENCY_MS` | 30 | time every call takes, refused or not |
| `PORTICO_EMULATOR_RATE_<BUCKET>` | the table below | `burst/rate`, e.g. `PORTICO_EMULATOR_RATE_ECS_READ=50/20` |

Each rate is a token bucket per account and region, as AWS describes its throttling: a call takes one token from
each bucket it draws on, a bucket holds at most `burst` tokens and gets `rate` back per second; a call that finds
a bucket empty is refused with that service's throttling error, which botocore's `standard` retry mode retries
with backoff (portico's clients use it). A refused call takes no token.

| bucket | calls | burst / rate | refusal |
|---|---|---|---|
| `APIGATEWAY` | every API Gateway call | 40 / 10 [1] | 429 `TooManyRequestsException` |
| `APIGATEWAY_CREATERESOURCE` | CreateResource | 5 / 5 [1] | same |
| `APIGATEWAY_PUTRESTAPI` | PutRestApi | 1 / 1 [1] | same |
| `APIGATEWAY_GETRESOURCES` | GetResources | 5 / 2.5 [1] | same |
| `ELBV2_DESCRIBE` | ELBv2 Describe* | 200 / 50 [2] | 400 `Throttling` "Rate exceeded" [3] |
| `ELBV2_MODIFY` | ELBv2 Modify* | 20 / 3 [2] | same |
| `ELBV2_MUTATING` | every other ELBv2 call | 40 / 10 [2*] | same |
| `ECS_READ` | ECS Describe*, List* | 50 / 20 [4*] | 400 `ThrottlingException` "Rate exceeded" [4] |
| `ECS_REGISTERTASKDEFINITION` | RegisterTaskDefinition | 20 / 1 [5] | same |
| `ECS_MUTATING` | every other ECS call | 50 / 20 [4*] | same |
| `CLOUDWATCH_ALARMS` | PutMetricAlarm | 3 / 3 [6*] | 400 `Throttling` "Rate exceeded" |

The table is portico's own (`portico.pace`): the client-side pacer waits for the same buckets, with a margin.
Concurrent calls: the emulator serves one call at a time per service in `SERIALIZED` (moto's backends are not
thread-safe), with the modeled latency outside that lock, so calls made in parallel overlap their latencies as
they do on AWS.

CreateDeployment's 1 per 5 s is apigateway.py's rule, on whether the model is on or not. DynamoDB is not modeled
beyond latency: portico makes no control-plane call on the reconcile path, and on-demand tables have no rate.

An emulator in a process of its own (`python -m portico_cli.local_aws.emulator`, `portico local up`) reads these
variables from its own environment; `POST /moto-api/portico/aws-model?on=1` (or `on=0`) switches the model there and
empties the counts with full buckets, and `GET` on the same URL answers `{"on": ..., "refusals": [[service,
action, calls], ...]}` (moto-api is moto's own channel, not an AWS API: `make bench` runs its emulator so).

[1] https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html: 10 requests per second with a burst
of 40 for the account's control-plane calls, CreateResource 5 per second, PutRestApi 1 per second, GetResources
5 per 2 seconds (as ../shared/DESIGN.md and scripts/bench.py's simulator use them).
[2] https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-api-throttling.html, with its table of
buckets as the AWS-maintained aws-load-balancer-controller reads it (portico.pace, note [2], cites both). *The
create and delete actions' bucket is in no copy we could read: the page's prose example, 40 and 10, in one bucket;
set the variable to change it.
[3] The page says `ThrottlingException`; what clients receive from ELBv2 is `Throttling` ("Throttling: Rate
exceeded, status code: 400" in https://github.com/kubernetes-sigs/aws-load-balancer-controller/issues/1871,
`Aws::ElasticLoadBalancingV2::Errors::Throttling` in https://github.com/dtan4/terraforming/issues/414): the
emulator answers `Throttling`. botocore treats both as throttling.
[4] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html: `ThrottlingException`,
"Rate exceeded"; per-action buckets, e.g. "cluster read actions (DescribeClusters) ... bucket size of 50 tokens".
*The copies we could read stop before the refill rates and the per-action table: ~20 per second for the describe
actions is how the page is quoted in https://github.com/aws-solutions/workload-discovery-on-aws/pull/355, and the
service actions (UpdateService) get the same, assumed; set the variables to change them.
[5] 20 burst, 1 per second sustained, as the same page is quoted in
https://github.com/aws-actions/amazon-ecs-deploy-task-definition/issues/502.
[6] *The CloudWatch quotas page (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html)
lists API request rates in a table the copy we could read does not hold; PutMetricAlarm's default of 3
transactions per second is how it is commonly cited (../shared/DESIGN.md); its throttling code is CloudWatch's
query-protocol `Throttling`, which the JSON/CBOR protocols carry in `x-amzn-query-error`.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

from portico import pace

from . import limit, route, wrap

SWITCH = "PORTICO_EMULATOR_AWS_MODEL"
CONTROL_URL = "/moto-api/portico/aws-model"
LATENCY = "PORTICO_EMULATOR_LATENCY_MS"
RATE = "PORTICO_EMULATOR_RATE_"
# moto's backends are not thread-safe (a create checks for a duplicate, then inserts, nothing held between): each of
# these services serves one call at a time, whether the model is on or not. DynamoDB has its own lock (dynamodb.py);
# CloudFormation and Lambda are left out: a stack or a function may call back into the emulator, and must not wait
# on its own caller.
SERIALIZED = ("apigateway", "cloudwatch", "ec2", "ecs", "elbv2")
_serial = {name: threading.RLock() for name in SERIALIZED}

# bucket: (burst, rate per second), AWS's values: the one table portico's client-side pacer keeps too (its page
# citations are the table above)
RATES = pace.RATES
buckets = pace.buckets


def on() -> bool:
    return os.environ.get(SWITCH, "").lower() in ("1", "true", "on", "yes")


def rate(bucket: str) -> tuple[float, float]:
    """(burst, rate per second) of a bucket: `PORTICO_EMULATOR_RATE_<BUCKET>=burst/rate`, else AWS's."""
    value = os.environ.get(RATE + bucket)
    if not value:
        return RATES[bucket]
    burst, _, per_second = value.partition("/")
    try:
        return float(burst), float(per_second or burst)
    except ValueError:
        raise ValueError(f"{RATE}{bucket}={value!r}: expected burst/rate in calls and calls per second, "
                         f"e.g. 3/3") from None


class Buckets:
    """Token buckets on the monotonic clock, shared by moto server's request threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float, float, float]] = {}  # bucket: (burst, rate, tokens, at)
        self.refused: Counter[tuple[str, str]] = Counter()

    def take(self, service: str, action: str, names: list[str], now: float) -> float | None:
        """Take one token from each of `names` and return None, or take none and return the seconds until the
        emptiest bucket has one again (all or nothing, so a refused call costs no bucket a token)."""
        with self._lock:
            filled = {}
            for name in names:
                burst, per_second = rate(name)
                old = self._state.get(name)
                if old is None or old[:2] != (burst, per_second):  # first call, or the rate was changed
                    tokens, at = burst, now
                else:  # a call whose clock was read before another's took the lock refills nothing, rather
                    # than less than nothing: under load that would refuse calls AWS accepts
                    at = max(now, old[3])
                    tokens = min(burst, old[2] + (at - old[3]) * per_second)
                filled[name] = (burst, per_second, tokens, at)
            short = [(1 - t) / r for b, r, t, _ in filled.values() if t < 1]
            if short:
                self._state.update(filled)
                self.refused[(service, action)] += 1
                return max(short)
            self._state.update({n: (b, r, t - 1, at) for n, (b, r, t, at) in filled.items()})
            return None

    def reset(self) -> None:
        with self._lock:
            self._state.clear()
            self.refused.clear()


BUCKETS = Buckets()


def reset() -> None:
    """Full buckets and zero counts (a test's or a bench pass's start)."""
    BUCKETS.reset()


def refusals() -> Counter[tuple[str, str]]:
    """{(service, action): calls refused for their rate} since the last reset."""
    with BUCKETS._lock:
        return Counter(BUCKETS.refused)


def _throttling(service: str, wait: float) -> Exception:
    """The throttling error of `service`, in its protocol, as moto's response classes render their own errors."""
    if service == "apigateway":
        import math

        from .apigateway import _throttle

        return _throttle("TooManyRequestsException", "Too Many Requests", retry_after=str(max(1, math.ceil(wait))))
    if service == "elbv2":
        from moto.elbv2.exceptions import ELBClientError

        return ELBClientError("Throttling", "Rate exceeded")
    if service == "ecs":
        from moto.ecs.exceptions import ECSException

        return ECSException("ThrottlingException", "Rate exceeded")
    from moto.cloudwatch.exceptions import CloudWatchException

    return CloudWatchException("Throttling", "Rate exceeded")


def _one_at_a_time(call_action, response):
    lock = _serial.get(response.boto3_service_name)
    if lock is None:
        return call_action(response)
    with lock:
        return call_action(response)


def _latency(response) -> None:
    """AWS's answer takes time whatever it is: once per request, outside every lock of the emulator, so that
    concurrent calls overlap their latency as they do on AWS."""
    if not getattr(response, "_portico_latency", False):
        response._portico_latency = True
        time.sleep(limit(LATENCY, 30) / 1000)


def _ahead_of_lock(call_action):
    """DynamoHandler.call_action, which takes dynamodb.LOCK before it reaches BaseResponse.call_action: the latency
    is slept before that lock. Slept under it, every DynamoDB call of a pass waited out the latency of every other
    one (1,000 status writes 8 at a time took 44 ms each instead of the ~4 ms of 30 ms calls side by side)."""
    def wrapper(self):
        if on():
            _latency(self)
        return call_action(self)

    return wrapper


def _modeled(call_action):  # BaseResponse.call_action: every call of every service moto serves
    def wrapper(self):
        if not on():
            return _one_at_a_time(call_action, self)
        from moto.core.utils import camelcase_to_underscores

        _latency(self)
        service, action = self.boto3_service_name, self._get_action() or ""
        names = buckets(service, action)
        wait = BUCKETS.take(service, action, names, time.monotonic()) if names else None
        if wait is not None:
            error = _throttling(service, wait)

            def refuse():
                raise error

            # moto's call_action renders what the action method raises in the service's protocol: the refusal
            # stands in for this one request's action method (an attribute of this request's response object)
            setattr(self, camelcase_to_underscores(action), refuse)
        return _one_at_a_time(call_action, self)

    return wrapper


def _control(request, full_url, headers):
    """The model of this process, switched or read over HTTP (the module docstring)."""
    import json
    from urllib.parse import parse_qs, urlsplit

    if request.method == "POST":
        switch = parse_qs(urlsplit(full_url).query).get("on", [""])[0]
        if switch not in ("0", "1"):
            return 400, {}, json.dumps({"message": "on: 1 switches the AWS model on, 0 off (?on=1)"})
        os.environ[SWITCH] = switch
        reset()
    refused = [[service, action, calls] for (service, action), calls in sorted(refusals().items())]
    return 200, {}, json.dumps({"on": on(), "refusals": refused})


def install() -> None:
    import warnings

    from moto.core.responses import BaseResponse
    from moto.dynamodb.responses import DynamoHandler
    from moto.moto_api._internal import urls

    wrap(BaseResponse, "call_action", _modeled)
    wrap(DynamoHandler, "call_action", _ahead_of_lock)  # after dynamodb's patch (patches() order): outside its LOCK
    route(urls.url_paths, "{0}" + CONTROL_URL + "$", _control, new=True)
    # AWS's service models list no throttling error (every SDK knows them by code), and moto warns of each one
    warnings.filterwarnings("ignore", r"Exception\(\w+\) with code (Throttling|ThrottlingException) does not match",
                            UserWarning)
