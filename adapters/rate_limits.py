"""Rate-limit counters that every function instance shares.

Counters in process memory would give each instance its own allowance (and
Cloud Functions runs many); Firestore transactions give all of them one.
"""

from __future__ import annotations

import abc
import hashlib
import threading
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone

from domain.rate_limit import Bucket, Decision, Limit, take_all


# A counter read that takes longer than this is an outage: fail open rather than keep
# a shopper waiting through the client's default five minutes of retries.
READ_TIMEOUT_SECONDS = 2.0


class RateLimitUnavailable(Exception):
    """The counter store could not answer (callers decide to fail open)."""


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
        except exceptions.GoogleAPICallError as exc:
            raise RateLimitUnavailable(str(exc)) from exc
