"""portico's client-side pacer (pace.py): token buckets on an injected clock, shared by threads without overdraw."""

from __future__ import annotations

import threading

import pytest

from portico.pace import RATES, Bucket, Pacer, buckets


class Clock:
    def __init__(self):
        self.now, self.slept = 0.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def pacer(clock: Clock, **rates: tuple[float, float]) -> Pacer:
    return Pacer(rates, margin=1.0, rate_margin=1.0, clock=clock, sleep=clock.sleep)


def test_a_bucket_gives_its_burst_at_once_then_one_token_per_interval():
    b = Bucket(burst=3, rate=2, now=0.0)
    assert [b.take(0.0) for _ in range(5)] == [0.0, 0.0, 0.0, 0.5, 1.0]  # booked in order: each waits for its own
    assert b.take(3.0) == 0.0  # refilled (never past the burst)
    assert [b.take(3.0) for _ in range(3)] == [0.0, 0.0, 0.5]


def test_the_pacer_waits_only_past_the_burst_and_counts_what_it_waited():
    clock = Clock()
    p = pacer(clock, ELBV2_MUTATING=(4, 2))
    waits = [p.wait("elbv2", "CreateListener") for _ in range(6)]
    assert waits == [0, 0, 0, 0, 0.5, 1.0]
    assert clock.slept == [0.5, 1.0] and p.waited == 1.5
    clock.now = 10.0
    assert p.wait("elbv2", "CreateTargetGroup") == 0  # the same bucket, full again


def test_reads_and_writes_of_one_service_draw_on_their_own_buckets():
    clock = Clock()
    p = pacer(clock, ELBV2_MUTATING=(1, 1), ELBV2_DESCRIBE=(1, 1))
    assert p.wait("elbv2", "CreateListener") == 0
    assert p.wait("elbv2", "DescribeListeners") == 0  # not behind the write
    assert p.wait("elbv2", "CreateListener") == 1.0


def test_an_api_gateway_call_waits_for_the_account_bucket_and_its_own():
    clock = Clock()
    p = pacer(clock, APIGATEWAY=(40, 10), APIGATEWAY_PUTRESTAPI=(1, 1))
    assert p.wait("apigateway", "PutRestApi") == 0
    assert p.wait("apigateway", "PutRestApi") == 1.0  # PutRestApi's own 1 per second, though the account has 39
    assert p.wait("apigateway", "GetRestApi") == 0


def test_unpaced_calls_never_wait():
    p = pacer(Clock())
    assert buckets("dynamodb", "TransactWriteItems") == [] and buckets("cloudwatch", "DescribeAlarms") == []
    assert all(p.wait("dynamodb", "PutItem") == 0 for _ in range(1000))
    # a bucket the emulator models for a call portico never makes
    assert all(p.wait("ecs", "RegisterTaskDefinition") == 0 for _ in range(100))


def test_a_disabled_pacer_lets_every_call_go():
    clock = Clock()
    p = Pacer({"ELBV2_MUTATING": (1, 1)}, clock=clock, sleep=clock.sleep, enabled=False)
    assert all(p.wait("elbv2", "CreateListener") == 0 for _ in range(10)) and clock.slept == []
    p.enabled = True
    assert [p.wait("elbv2", "CreateListener") for _ in range(2)] == [0, pytest.approx(1 / 0.97)]


@pytest.mark.parametrize(("service", "action", "bucket"), [
    ("elbv2", "DescribeTargetGroups", "ELBV2_DESCRIBE"), ("elbv2", "CreateTargetGroup", "ELBV2_MUTATING"),
    ("elbv2", "ModifyTargetGroup", "ELBV2_MODIFY"), ("elbv2", "DeleteListener", "ELBV2_MUTATING"),
    ("ecs", "DescribeTaskDefinition", "ECS_READ"), ("ecs", "UpdateService", "ECS_MUTATING"),
    ("ecs", "RegisterTaskDefinition", "ECS_REGISTERTASKDEFINITION"),
    ("cloudwatch", "PutMetricAlarm", "CLOUDWATCH_ALARMS")])
def test_each_call_draws_on_its_documented_bucket(service, action, bucket):
    assert buckets(service, action) == [bucket] and bucket in RATES


def test_the_margin_keeps_the_pacer_below_aws_rates():
    clock = Clock()
    p = Pacer(clock=clock, sleep=clock.sleep)  # AWS's ELBv2 bucket: 40 burst, 10 per second
    waits = [p.wait("elbv2", "CreateListener") for _ in range(40)]
    assert waits.count(0) == 36  # 90 % of the burst
    assert waits[36] == pytest.approx(1 / 9.7)  # 97 % of the rate
    assert Pacer(clock=clock, sleep=clock.sleep).wait("apigateway", "PutRestApi") == 0  # a burst of 1 stays 1


def test_threads_sharing_a_pacer_never_overdraw_a_bucket():
    clock = Clock()
    p = pacer(clock, ECS_MUTATING=(5, 10))
    waits: list[float] = []
    lock = threading.Lock()

    def call():
        w = p.wait("ecs", "UpdateService")
        with lock:
            waits.append(w)

    threads = [threading.Thread(target=call) for _ in range(45)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # every caller booked a token of its own: 5 at once, then one each 0.1 s, none twice
    assert sorted(waits) == pytest.approx([0.0] * 5 + [k / 10 for k in range(1, 41)])


def test_a_refusal_halves_the_rate_once_a_second_and_a_tenth_comes_back_each_second():
    b = Bucket(burst=4, rate=10, now=0.0)
    assert [b.take(0.0) for _ in range(2)] == [0.0, 0.0]  # 2 tokens left in hand
    b.refused(0.0)  # another caller took them: none kept, the rate halved
    b.refused(0.0)  # a call sent with it: refused too, no second cut
    assert b.tokens == 0 and b.rate == 5
    assert b.take(0.0) == pytest.approx(1 / 5)  # the next call waits for a token at the halved rate
    b.refused(1.0)  # a second later: cut again, from the 6 a second it had won back
    assert b.rate == pytest.approx(3)
    b.take(2.0)
    assert b.rate == pytest.approx(4)  # a second on, a tenth of the full rate came back
    b.take(60.0)
    assert b.rate == 10  # never past the full rate
    for t in range(10):
        b.refused(100.0 + t)
    assert b.rate == pytest.approx(1, abs=0.01)  # a tenth of it (what comes back between cuts aside), not less


def test_a_refusal_slows_only_the_buckets_its_call_draws_on():
    clock = Clock()
    p = pacer(clock, ELBV2_MUTATING=(1, 10), ELBV2_DESCRIBE=(1, 10))
    p.wait("elbv2", "CreateListener"), p.wait("elbv2", "DescribeListeners")
    p.refused("elbv2", "CreateListener")
    p.refused("dynamodb", "PutItem")  # not paced: nothing to slow
    assert p.refusals == 1
    assert p.wait("elbv2", "CreateListener") == pytest.approx(1 / 5)
    assert p.wait("elbv2", "DescribeListeners") == pytest.approx(1 / 10)
    clock.now = 10.0
    assert p.wait("elbv2", "CreateListener") == 0 and p._buckets["ELBV2_MUTATING"].rate == 10  # back to full
