"""Work leases: who is processing a job, and until when.

A worker that dies leaves its lease to expire; the redelivered message then
finds it free. A live lease held by another worker means "try again later".
"""

from __future__ import annotations

import abc
from datetime import datetime, timedelta, timezone

from adapters.jobs import MAX_ATTEMPTS


class LeaseStore(abc.ABC):
    @abc.abstractmethod
    def acquire(self, key: str, holder: str, seconds: float) -> int | None:
        """Take the lease if free or expired; returns the attempt number, or None."""

    @abc.abstractmethod
    def release(self, key: str, holder: str) -> None: ...


class FirestoreLeases(LeaseStore):
    def __init__(self, client, collection: str = "leases"):
        self._client = client
        self._collection = client.collection(collection)

    def acquire(self, key: str, holder: str, seconds: float) -> int | None:
        from google.cloud import firestore

        ref = self._collection.document(key)
        now = datetime.now(timezone.utc)

        @firestore.transactional
        def run(transaction):
            snap = ref.get(transaction=transaction)
            doc = snap.to_dict() if snap.exists else {}
            until = doc.get("until")
            if doc.get("holder") and until and until > now and doc["holder"] != holder:
                return None
            attempt = int(doc.get("attempt", 0)) + 1
            transaction.set(ref, {"holder": holder, "until": now + timedelta(seconds=seconds), "attempt": attempt})
            return attempt

        return run(self._client.transaction(max_attempts=MAX_ATTEMPTS))

    def release(self, key: str, holder: str) -> None:
        from google.cloud import firestore

        ref = self._collection.document(key)

        @firestore.transactional
        def run(transaction):
            snap = ref.get(transaction=transaction)
            if snap.exists and snap.get("holder") == holder:
                transaction.update(ref, {"holder": "", "until": datetime.now(timezone.utc)})

        run(self._client.transaction(max_attempts=MAX_ATTEMPTS))
