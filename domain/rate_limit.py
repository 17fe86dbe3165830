"""Token buckets for the public functions, as plain logic (no clock, no store).

A bucket holds up to `burst` tokens and refills at `per_minute / 60` a second;
a request takes one. So a client gets `burst` requests at once and then the
configured rate, and an idle client earns its burst back.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    per_minute: float
    burst: int

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: float  # seconds (any epoch, as long as one store uses one)

    @classmethod
    def full(cls, limit: Limit, now: float) -> Bucket:
        return cls(float(limit.burst), now)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # whole seconds until one token is back (for Retry-After)
    remaining: int = 0
    refused: tuple[str, ...] = ()  # the keys whose bucket was empty


def refill(bucket: Bucket, limit: Limit, now: float) -> Bucket:
    # A clock that steps back (another instance's) never takes tokens away.
    elapsed = max(0.0, now - bucket.at)
    return Bucket(min(float(limit.burst), bucket.tokens + elapsed * limit.per_second), max(now, bucket.at))


def take(bucket: Bucket | None, limit: Limit, now: float) -> tuple[Decision, Bucket]:
    """Try to take one token; returns the decision and the bucket to store."""
    current = refill(bucket, limit, now) if bucket else Bucket.full(limit, now)
    if current.tokens >= 1.0:
        after = Bucket(current.tokens - 1.0, current.at)
        return Decision(True, 0, int(after.tokens)), after
    wait = (1.0 - current.tokens) / limit.per_second if limit.per_second > 0 else 3600.0
    return Decision(False, max(1, math.ceil(wait)), 0), current


def take_all(buckets: dict[str, Bucket | None], limits: dict[str, Limit], now: float
             ) -> tuple[Decision, dict[str, Bucket]]:
    """Take one token from every bucket, or from none: a request refused by one
    limit does not spend the others. The answer waits for the slowest bucket."""
    results = {key: take(buckets.get(key), limits[key], now) for key in limits}
    refused = [d for d, _ in results.values() if not d.allowed]
    if refused:
        unspent = {key: refill(b, limits[key], now) if (b := buckets.get(key)) else Bucket.full(limits[key], now)
                   for key in limits}
        refused_keys = tuple(key for key, (d, _) in results.items() if not d.allowed)
        return Decision(False, max(d.retry_after for d in refused), 0, refused_keys), unspent
    remaining = min((d.remaining for d, _ in results.values()), default=0)
    return Decision(True, 0, remaining), {key: b for key, (_, b) in results.items()}


def address_key(address: str) -> str:
    """What one client's rate limit is keyed on: an IPv4 address as it is, an IPv6
    address by its /64 (one subscriber's usual allocation, so rotating addresses
    inside it gains nothing), an IPv4-mapped IPv6 address as the IPv4 it carries."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:64]  # not an address: the string itself
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))  # int form drops any %zone
    return str(ip)


class LocalBuckets:
    """Token buckets in one process's memory: the same rule as the shared ones,
    for at most `max_keys` keys (the least recently used is dropped, and so comes
    back full), so a flood of new keys cannot grow it without bound."""

    def __init__(self, max_keys: int = 10_000):
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()
        self._max_keys = max_keys

    def _get(self, key: str) -> Bucket | None:
        if key in self._buckets:
            self._buckets.move_to_end(key)
        return self._buckets.get(key)

    def _put(self, key: str, bucket: Bucket) -> None:
        self._buckets[key] = bucket
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)

    def take(self, limits: dict[str, Limit], now: float) -> Decision:
        decision, updated = take_all({key: self._get(key) for key in limits}, limits, now)
        if decision.allowed:
            for key, bucket in updated.items():
                self._put(key, bucket)
        return decision

    def empty(self, keys, limits: dict[str, Limit], now: float) -> None:
        """Mark keys as having no token left now (they refill at their rate from here)."""
        for key in keys:
            if key in limits:
                self._put(key, Bucket(0.0, now))

    def __len__(self) -> int:
        return len(self._buckets)
