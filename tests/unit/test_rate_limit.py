"""Token buckets: burst, steady rate, refill, Retry-After, all-or-nothing."""

import pytest

from domain.rate_limit import Bucket, Limit, take, take_all

IP = Limit(per_minute=100, burst=10)
SESSION = Limit(per_minute=20, burst=10)


def drain(limit, now, n, bucket=None):
    allowed = 0
    for _ in range(n):
        decision, bucket = take(bucket, limit, now)
        allowed += decision.allowed
    return allowed, bucket, decision


def test_a_burst_is_allowed_and_the_next_request_is_refused():
    allowed, bucket, last = drain(IP, 1000.0, 11)
    assert allowed == 10
    assert not last.allowed


def test_retry_after_is_the_time_to_the_next_token_rounded_up():
    _, bucket, last = drain(SESSION, 0.0, 11)
    assert last.retry_after == 3  # 20 a minute: one token every 3 s
    _, _, last = drain(IP, 0.0, 11)
    assert last.retry_after == 1  # 100 a minute: one every 0.6 s


def test_tokens_come_back_at_the_configured_rate_and_not_faster():
    _, bucket, _ = drain(SESSION, 0.0, 10)
    assert not take(bucket, SESSION, 2.9)[0].allowed
    decision, bucket = take(bucket, SESSION, 3.0)
    assert decision.allowed
    # A minute later: 20 more (the burst caps the total at 10 when idle longer).
    allowed, _, _ = drain(SESSION, 63.0, 30, bucket)
    assert allowed == 10


@pytest.mark.parametrize("limit", [IP, SESSION])
def test_over_a_minute_a_flood_gets_burst_plus_rate(limit):
    bucket, allowed = None, 0
    for i in range(6000):  # a request every 10 ms for 60 s
        decision, bucket = take(bucket, limit, i * 0.01)
        allowed += decision.allowed
    assert limit.burst + limit.per_minute - 1 <= allowed <= limit.burst + limit.per_minute


def test_a_clock_stepping_back_takes_no_tokens_away():
    bucket = Bucket(5.0, 100.0)
    decision, after = take(bucket, IP, 50.0)
    assert decision.allowed and after.tokens == 4.0 and after.at == 100.0


def test_take_all_spends_nothing_when_one_limit_refuses():
    limits = {"ip": IP, "session": SESSION}
    buckets = {"ip": Bucket(10.0, 0.0), "session": Bucket(0.0, 0.0)}
    decision, after = take_all(buckets, limits, 0.0)
    assert not decision.allowed and decision.retry_after == 3
    assert after["ip"].tokens == 10.0


def test_take_all_spends_one_from_each_when_all_allow():
    decision, after = take_all({}, {"ip": IP, "session": SESSION}, 0.0)
    assert decision.allowed and after["ip"].tokens == 9.0 and after["session"].tokens == 9.0
