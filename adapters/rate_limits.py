"""Rate-limit counters that every function instance shares.

Counters in process memory would give each instance its own allowance (and
Cloud Functions runs many); Firestore transactions give all of them one.
"""

from __future__ import annotations

import abc
import hashlib
import logging
import threading
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone

from adapters.logs import log
from domain.rate_limit import Bucket, Decision, Limit, LocalBuckets, take_all

logger = logging.getLogger(__name__)

# A counter read that takes longer than this is an outage (see OutagePolicy) rather
# than a shopper kept waiting through the client's default five minutes of retries.
READ_TIMEOUT_SECONDS = 2.0


class RateLimitUnavailable(Exception):
    """The counter store could not answer (OutagePolicy decides instead)."""


class RateLimiter(abc.ABC):
    @abc.abstractmethod
    def take(self, limits: dict[str, Limit]) -> Decision:
        """Take one token from each keyed bucket, or none if any is empty."""


def doc_id(key: str) -> str:
    # Hashed: document ids stay valid whatever the key holds, and no raw IP is stored.
    return hashlib.sha256(key.encode()).hexdigest()


class FirestoreRateLimits(RateLimiter):
    STRIPES = 64

    def __init__(self, client, collection: str = "rate_limits", clock=time.time):
        self._client = client
        self._collection = client.collection(collection)
        self._clock = clock
        # Same-key transactions from one instance's concurrent requests would only
        # contend in Firestore (the emulator takes ~2 s to untangle each); queue them here.
        self._stripes = [threading.Lock() for _ in range(self.STRIPES)]

    def _locked(self, keys) -> ExitStack:
        stack = ExitStack()
        for index in sorted({int(doc_id(k)[:8], 16) % self.STRIPES for k in keys}):  # one order: no deadlock
            stack.enter_context(self._stripes[index])
        return stack

    def take(self, limits: dict[str, Limit]) -> Decision:
        from google.api_core import exceptions
        from google.cloud import firestore

        refs = {key: self._collection.document(doc_id(key)) for key in limits}

        def read(transaction=None) -> dict[str, Bucket]:
            buckets = {}
            for snap in self._client.get_all(list(refs.values()), transaction=transaction, retry=None,
                                             timeout=READ_TIMEOUT_SECONDS):
                if snap.exists:
                    key = next(k for k, r in refs.items() if r.id == snap.id)
                    doc = snap.to_dict()
                    buckets[key] = Bucket(float(doc["tokens"]), float(doc["at"]))
            return buckets

        @firestore.transactional
        def run(transaction):
            decision, updated = take_all(read(transaction), limits, self._clock())
            # A Firestore TTL policy on `expires_at` drops buckets nobody has used for an hour.
            expires = datetime.now(timezone.utc) + timedelta(hours=1)
            if decision.allowed:  # a refusal spends nothing, so writes nothing
                for key, bucket in updated.items():
                    transaction.set(refs[key], {"tokens": bucket.tokens, "at": bucket.at, "expires_at": expires})
            return decision

        try:
            # A flood is mostly refusals: decide those on a plain read, with no transaction
            # to contend for the hot document (a refusal changes nothing, and a concurrent
            # request can only have taken tokens, so a stale "empty" is still right).
            decision, _ = take_all(read(), limits, self._clock())
            if not decision.allowed:
                return decision
            with self._locked(limits):
                return run(self._client.transaction())
        except (ValueError, exceptions.Aborted) as exc:
            if isinstance(exc, ValueError) and "attempts" not in str(exc):
                raise
            # Still contended after every retry: this key is being hammered; slow it down.
            return Decision(False, 1, 0)
        except exceptions.GoogleAPIError as exc:  # call errors, and RetryError from begin/commit's own retries
            raise RateLimitUnavailable(str(exc)) from exc


class OutagePolicy(RateLimiter):
    """What the limits do when the shared counters cannot be read or are slow.

    Bounded fail-open, and closed for keys already over their limit:
    - each instance keeps its own copy of every key's bucket (LocalBuckets): it spends
      a token whenever the shared store allows a request and empties the bucket
      whenever the store refuses one (the copy sees only this instance's requests, so
      it is looser than the store, except for keys the store has refused);
    - when the store fails (an error, or a read slower than READ_TIMEOUT_SECONDS), the
      local copy decides: a key that was over its limit stays refused until it earns
      tokens back at its own rate, and any key gets at most its burst plus its rate
      from each instance (at most max-instances times the limit overall; the Cloud
      Armor rule at the edge does not depend on Firestore at all);
    - for `retry_after_outage` seconds after a failure the store is not asked again, so
      an outage costs one slow read per instance, not one per request.
    """

    def __init__(self, limiter: RateLimiter, local: LocalBuckets | None = None, clock=time.monotonic,
                 retry_after_outage: float = 5.0):
        self._shared = limiter  # the shared (Firestore) counters
        self._local = local or LocalBuckets()
        self._clock = clock
        self._retry_after_outage = retry_after_outage
        self._skip_until = float("-inf")
        self._lock = threading.Lock()  # LocalBuckets is plain data; requests run on threads

    def take(self, limits: dict[str, Limit]) -> Decision:
        if self._clock() >= self._skip_until:
            try:
                decision = self._shared.take(limits)
            except RateLimitUnavailable as exc:
                self._skip_until = self._clock() + self._retry_after_outage
                log(logger, logging.WARNING, "rate-limit counters unavailable; this instance's own buckets decide",
                    error=str(exc)[:300], retry_in_seconds=self._retry_after_outage)
            else:
                with self._lock:
                    if decision.allowed:
                        self._local.take(limits, self._clock())
                    else:
                        self._local.empty(decision.refused, limits, self._clock())
                return decision
        with self._lock:
            return self._local.take(limits, self._clock())
