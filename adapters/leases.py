"""Work leases: who is processing a job, and until when.

A live worker renews its lease while it works; a worker that dies leaves it to
expire, and the redelivered message then finds it free. A live lease held by
another worker means "try again later".
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
    def renew(self, key: str, holder: str, seconds: float) -> bool:
        """Extend the lease `holder` holds to `seconds` from now; False when another holder has it."""

    @abc.abstractmethod
    def release(self, key: str, holder: str) -> None: ...

    @abc.abstractmethod
    def held(self, key: str) -> bool:
        """Whether a live lease is on `key`: a worker is at it now."""


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

    def renew(self, key: str, holder: str, seconds: float) -> bool:
        from google.cloud import firestore

        ref = self._collection.document(key)

        @firestore.transactional
        def run(transaction):
            snap = ref.get(transaction=transaction)
            if not snap.exists or snap.get("holder") != holder:
                return False  # taken over (ours ran out while we could not renew) or released
            transaction.update(ref, {"until": datetime.now(timezone.utc) + timedelta(seconds=seconds)})
            return True

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

    def held(self, key: str) -> bool:
        snap = self._collection.document(key).get()
        doc = snap.to_dict() if snap.exists else {}
        return bool(doc.get("holder")) and doc.get("until") is not None and doc["until"] > datetime.now(timezone.utc)
