"""Token buckets: burst, steady rate, refill, Retry-After, all-or-nothing; client
keys (IPv6 by /64); the policy when the shared counters are down."""

import pytest

from adapters.rate_limits import OutagePolicy, RateLimitUnavailable
from domain.rate_limit import Bucket, Limit, LocalBuckets, address_key, take, take_all

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
    assert not decision.allowed and decision.retry_after == 3 and decision.refused == ("session",)
    assert after["ip"].tokens == 10.0


def test_take_all_spends_one_from_each_when_all_allow():
    decision, after = take_all({}, {"ip": IP, "session": SESSION}, 0.0)
    assert decision.allowed and after["ip"].tokens == 9.0 and after["session"].tokens == 9.0


# --- client keys ----------------------------------------------------------------

@pytest.mark.parametrize("address, key", [
    ("203.0.113.7", "203.0.113.7"),
    ("2001:db8:aa:bb::1", "2001:db8:aa:bb::/64"),
    ("2001:db8:aa:bb:ffff:ffff:ffff:ffff", "2001:db8:aa:bb::/64"),
    ("2001:DB8:AA:BB:0:0:0:1", "2001:db8:aa:bb::/64"),  # any spelling of the same address
    ("fe80::1%eth0", "fe80::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),  # IPv4-mapped: the IPv4 client it is
    ("unknown", "unknown"),
])
def test_clients_are_keyed_by_ipv4_address_or_ipv6_64(address, key):
    assert address_key(address) == key


def test_the_next_64_is_another_client():
    assert address_key("2001:db8:aa:bb::1") != address_key("2001:db8:aa:bc::1")


# --- the outage policy (adapters.rate_limits.OutagePolicy) ------------------------

class Counters:
    """The shared store, as dumb as storage: buckets in a dict, or down."""

    def __init__(self):
        self.buckets, self.down, self.now, self.asked = {}, False, 0.0, 0

    def take(self, limits):
        self.asked += 1
        if self.down:
            raise RateLimitUnavailable("connection refused")
        decision, updated = take_all({k: self.buckets.get(k) for k in limits}, limits, self.now)
        if decision.allowed:
            self.buckets.update(updated)
        return decision


@pytest.fixture
def store():
    return Counters()


@pytest.fixture
def policy(store):
    return OutagePolicy(store, LocalBuckets(), clock=lambda: store.now, retry_after_outage=5.0)


def allowed_of(policy, limits, n):
    return sum(policy.take(limits).allowed for _ in range(n))


def test_with_the_store_up_the_store_decides(store, policy):
    assert allowed_of(policy, {"ip:a": IP}, 11) == 10
    assert store.asked == 11


def test_when_the_store_is_down_each_key_still_gets_only_burst_then_its_rate(store, policy):
    store.down = True
    decisions = [policy.take({"ip:a": IP, "session:s": SESSION}) for _ in range(11)]
    assert [d.allowed for d in decisions] == [True] * 10 + [False]
    assert decisions[-1].retry_after == 3  # the session's rate: Retry-After still right
    assert allowed_of(policy, {"ip:b": IP}, 11) == 10  # another key has its own bucket
    store.now += 3.0
    assert allowed_of(policy, {"ip:a": IP, "session:s": SESSION}, 5) == 1  # one token back, as before


def test_a_key_over_its_limit_before_the_outage_stays_refused(store, policy):
    # Drained through other instances: this instance has only seen the refusal.
    store.buckets["ip:a"] = Bucket(0.0, store.now)
    assert not policy.take({"ip:a": IP}).allowed
    store.down = True
    assert not policy.take({"ip:a": IP}).allowed
    store.now += 0.6  # it earns tokens back at its own rate, no faster
    assert allowed_of(policy, {"ip:a": IP}, 3) == 1


def test_what_the_store_allowed_is_spent_locally_too(store, policy):
    assert allowed_of(policy, {"ip:a": IP}, 7) == 7
    store.down = True
    assert allowed_of(policy, {"ip:a": IP}, 11) == 3


def test_an_outage_is_not_asked_about_again_for_a_few_seconds(store, policy):
    store.down = True
    for _ in range(5):
        policy.take({"ip:a": IP})
    assert store.asked == 1  # one slow or failed read, not one per request
    store.now += 5.0
    store.down = False
    policy.take({"ip:a": IP})
    assert store.asked == 2  # back to the shared counters


def test_local_buckets_stay_bounded_under_a_flood_of_new_keys():
    local = LocalBuckets(max_keys=100)
    for i in range(1000):
        local.take({f"ip:{i}": IP}, 0.0)
    assert len(local) == 100
