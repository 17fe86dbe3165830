"""Rate-limit counters that every function instance shares.

Counters in process memory would give each instance its own allowance (and
Cloud Functions runs many); Firestore transactions give all of them one.
"""

from __future__ import annotations

import abc
import hashlib
import time
from datetime import datetime, timedelta, timezone

from functions.rate_limit import Bucket, Decision, Limit, take_all


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
    def __init__(self, client, collection: str = "rate_limits", clock=time.time):
        self._client = client
        self._collection = client.collection(collection)
        self._clock = clock

    def take(self, limits: dict[str, Limit]) -> Decision:
        from google.api_core import exceptions
        from google.cloud import firestore

        refs = {key: self._collection.document(doc_id(key)) for key in limits}

        @firestore.transactional
        def run(transaction):
            now = self._clock()
            buckets = {}
            for snap in self._client.get_all(list(refs.values()), transaction=transaction):
                if snap.exists:
                    key = next(k for k, r in refs.items() if r.id == snap.id)
                    doc = snap.to_dict()
                    buckets[key] = Bucket(float(doc["tokens"]), float(doc["at"]))
            decision, updated = take_all(buckets, limits, now)
            # A Firestore TTL policy on `expires_at` drops buckets nobody has used for an hour.
            expires = datetime.now(timezone.utc) + timedelta(hours=1)
            if decision.allowed:  # a refusal spends nothing, so writes nothing
                for key, bucket in updated.items():
                    transaction.set(refs[key], {"tokens": bucket.tokens, "at": bucket.at, "expires_at": expires})
            return decision

        try:
            return run(self._client.transaction())
        except (ValueError, exceptions.Aborted) as exc:
            if isinstance(exc, ValueError) and "attempts" not in str(exc):
                raise
            # Still contended after every retry: this key is being hammered; slow it down.
            return Decision(False, 1, 0)
        except exceptions.GoogleAPICallError as exc:
            raise RateLimitUnavailable(str(exc)) from exc
