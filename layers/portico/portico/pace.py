"""Client-side pacing: every AWS call waits for a token of its API's documented request rate, so a pass that makes
its calls in parallel stays within AWS's rates instead of being throttled and retried.

AWS throttles each API per account and Region with token buckets (a bucket holds `burst` tokens, gets `rate`
back per second, a call takes one). Portico keeps the same buckets on its side and waits for a token before each
attempt (retries included). It keeps a margin below AWS's numbers: 90 % of each burst (`MARGIN`), so the calls
of a burst that reach AWS a latency apart, or after another caller's, still find tokens, and 97 % of each rate
(`RATE_MARGIN`). Other callers in the account draw on the same buckets in amounts no fixed margin can know, so
the pacer learns of them instead: when AWS refuses a call for its rate, that call's buckets halve their rate (once
a second at most: the calls in flight with it are refused too) and book nothing ahead (`Bucket.refused`), then win
back a tenth of their rate each second (additive increase, multiplicative decrease, as TCP shares a link; by time,
not by call, so a warm Lambda's pacer is back to full speed seconds after a refusal, whatever it called since).
Under AWS's own refusals only, a pass sends at 97 % of the rates.

| bucket | calls | burst / rate |
|---|---|---|
| `APIGATEWAY` | every API Gateway call | 40 / 10 [1] |
| `APIGATEWAY_CREATERESOURCE` | CreateResource | 5 / 5 [1] |
| `APIGATEWAY_PUTRESTAPI` | PutRestApi | 1 / 1 [1] |
| `APIGATEWAY_GETRESOURCES` | GetResources | 5 / 2.5 [1] |
| `ELBV2_DESCRIBE` | ELBv2 Describe* | 200 / 50 [2] |
| `ELBV2_MODIFY` | ELBv2 Modify* | 20 / 3 [2] |
| `ELBV2_MUTATING` | every other ELBv2 call | 40 / 10 [2*] |
| `ECS_READ` | ECS Describe*, List* | 50 / 20 [3*] |
| `ECS_REGISTERTASKDEFINITION` | RegisterTaskDefinition (not paced: portico never calls it) | 20 / 1 [4] |
| `ECS_MUTATING` | every other ECS call | 50 / 20 [3*] |
| `CLOUDWATCH_ALARMS` | PutMetricAlarm | 3 / 3 [5*] |

DynamoDB (portico's tables are on-demand: no request rate) and the other services are not paced.

[1] https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html: 10 requests per second with a burst
of 40 for the account's control-plane calls, CreateResource 5 per second, PutRestApi 1 per second, GetResources
5 per 2 seconds (../shared/DESIGN.md uses the same numbers).
[2] https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-api-throttling.html: token buckets per
action group, one set per ELB API version; its prose example is the non-mutating actions' "40 tokens ... refill
rate of 10 tokens per second". Its table (#bucket-capacity-and-refill-rate) is in no copy we could read; the
AWS-maintained aws-load-balancer-controller sets its client-side limits from it (pkg/aws/throttle/defaults.go:
965719eb5, 2026-03-24, "to correctly match ELBv2 api limits": Modify* 3 per second with a burst of 20,
RegisterTargets and DeregisterTargets 4 and 20; 312f2becd, a day later, "Describe call buckets have increased in
the docs overnight": Describe* 50 and 200). The page's prose and its table now disagree on Describe*; the table,
the later, is used. *The create and delete actions: the controller sets no limit for them and no copy gives
their bucket; they keep the prose's 40 and 10, in one bucket (portico's floor for N services rests on it).
[3] https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html: token buckets per action
group, e.g. "cluster read actions (DescribeClusters) ... bucket size of 50 tokens". *The copies we could read stop
before the refill rates; ~20 per second for the describe actions is how the page is quoted in
https://github.com/aws-solutions/workload-discovery-on-aws/pull/355 (DescribeTasks, DescribeContainerInstances);
the service actions (UpdateService) get the same, assumed.
[4] 20 burst, 1 per second sustained, as the same ECS page is quoted in
https://github.com/aws-actions/amazon-ecs-deploy-task-definition/issues/502.
[5] *https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html lists the API request
rates in a table the copies we could read do not hold; PutMetricAlarm's 3 transactions per second is how it is
commonly cited (../shared/DESIGN.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .errors import THROTTLED

# bucket: (burst, rate per second), AWS's values (see the table above)
RATES: dict[str, tuple[float, float]] = {
    "APIGATEWAY": (40, 10),
    "APIGATEWAY_CREATERESOURCE": (5, 5),
    "APIGATEWAY_PUTRESTAPI": (1, 1),
    "APIGATEWAY_GETRESOURCES": (5, 2.5),
    "ELBV2_DESCRIBE": (200, 50),
    "ELBV2_MODIFY": (20, 3),
    "ELBV2_MUTATING": (40, 10),
    "ECS_READ": (50, 20),
    "ECS_REGISTERTASKDEFINITION": (20, 1),
    "ECS_MUTATING": (50, 20),
    "CLOUDWATCH_ALARMS": (3, 3),
}
MARGIN = 0.9  # the pacer's burst, as a share of AWS's
RATE_MARGIN = 0.97  # its rate, as a share of AWS's (refusals lower it further: Bucket.refused)
# a refusal halves a bucket's rate (to a tenth at least, once a second at most); it wins back a tenth a second
BACKOFF, LOWEST, COOLDOWN, RECOVERY = 0.5, 0.1, 1.0, 0.1
# The buckets portico waits for: those of the calls a pass makes. RegisterTaskDefinition (1 per second) is in the
# table for the emulator's model; portico never calls it, and pacing it would only slow a test's set-up.
PACED = frozenset(RATES) - {"ECS_REGISTERTASKDEFINITION"}


def buckets(service: str, action: str) -> list[str]:
    """The buckets a call of `service` (boto3's name) draws on."""
    if service == "apigateway":
        own = f"APIGATEWAY_{action.upper()}"
        return ["APIGATEWAY", own] if own in RATES else ["APIGATEWAY"]
    if service == "elbv2":
        return ["ELBV2_DESCRIBE" if action.startswith("Describe") else
                "ELBV2_MODIFY" if action.startswith("Modify") else "ELBV2_MUTATING"]
    if service == "ecs":
        if action == "RegisterTaskDefinition":
            return ["ECS_REGISTERTASKDEFINITION"]
        return ["ECS_READ" if action.startswith(("Describe", "List")) else "ECS_MUTATING"]
    if service == "cloudwatch" and action == "PutMetricAlarm":
        return ["CLOUDWATCH_ALARMS"]
    return []


class Bucket:
    """A token bucket that hands out tokens in order: `take` books the next token and says how long to wait for
    it (the bucket may go below zero: the callers behind wait longer), so concurrent callers never overdraw it."""

    def __init__(self, burst: float, rate: float, now: float):
        self.burst, self.rate, self.tokens, self.at = burst, rate, burst, now
        self.full_rate, self.cut_at = rate, None

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.at)
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.rate = min(self.full_rate, self.rate + elapsed * self.full_rate * RECOVERY)
        self.at = max(self.at, now)

    def take(self, now: float) -> float:
        """Book one token; the seconds until it is there (0: at once)."""
        self._refill(now)
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def refused(self, now: float) -> None:
        """AWS refused a call for its rate: another caller draws on the same bucket. Keep no token in hand, so the
        calls after it wait for the bucket to refill, and halve the rate (never below LOWEST of it, and once per
        COOLDOWN: the calls sent with the refused one were sent at the old rate)."""
        self._refill(now)
        self.tokens = min(self.tokens, 0.0)
        if self.cut_at is None or now - self.cut_at >= COOLDOWN:
            self.rate, self.cut_at = max(self.full_rate * LOWEST, self.rate * BACKOFF), now


class Pacer:
    """The buckets of one account and Region, shared by every client and thread of a process's passes."""

    def __init__(self, rates: dict[str, tuple[float, float]] | None = None, *, margin: float = MARGIN,
                 rate_margin: float = RATE_MARGIN, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = time.sleep, enabled: bool = True):
        self.rates = {**RATES, **(rates or {})}
        self.margin, self.rate_margin, self.clock, self.sleep = margin, rate_margin, clock, sleep
        self.enabled = enabled  # off: every call goes at once (a stand-in for another caller, a bench's set-up)
        self._lock = threading.Lock()
        self._buckets: dict[str, Bucket] = {}
        self.waited = 0.0  # seconds spent waiting for tokens, all threads together
        self.refusals = 0  # calls AWS refused for their rate, that slowed the pacer down

    def wait(self, service: str, action: str) -> float:
        """Wait for a token of each bucket the call draws on; the seconds waited."""
        names = [name for name in buckets(service, action) if name in PACED]
        if not names or not self.enabled:
            return 0.0
        with self._lock:
            now = self.clock()
            delay = max(self._bucket(name, now).take(now) for name in names)
            self.waited += delay
        if delay > 0:
            self.sleep(delay)
        return delay

    def refused(self, service: str, action: str) -> None:
        """AWS refused a call of `service`'s `action` for its rate: slow down each bucket it draws on."""
        names = [name for name in buckets(service, action) if name in PACED]
        if not names or not self.enabled:
            return
        with self._lock:
            now = self.clock()
            for name in names:
                self._bucket(name, now).refused(now)
            self.refusals += 1

    def _bucket(self, name: str, now: float) -> Bucket:
        if name not in self._buckets:
            burst, rate = self.rates[name]
            self._buckets[name] = Bucket(max(1.0, int(burst * self.margin)), rate * self.rate_margin, now)
        return self._buckets[name]

    def attach(self, client, service: str) -> None:
        """Pace every attempt `client` (boto3's `service`) sends, retries included, and learn from each refusal."""
        def before_send(event_name: str = "", **_):
            self.wait(service, event_name.rsplit(".", 1)[-1])

        def after_attempt(event_name: str = "", response=None, **_):
            # botocore emits needs-retry after every attempt; answering None leaves the retry decision to its own
            # handler, which runs after this one (registered first, since the first answer ends the emit)
            if response is not None and response[1].get("Error", {}).get("Code") in THROTTLED:
                self.refused(service, event_name.rsplit(".", 1)[-1])

        hyphenized = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-send.{hyphenized}", before_send, unique_id=f"portico-pace-{service}")
        client.meta.events.register_first(f"needs-retry.{hyphenized}", after_attempt,
                                          unique_id=f"portico-pace-refused-{service}")
