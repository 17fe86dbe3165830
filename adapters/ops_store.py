"""What the operations functions remember: actions taken (once each), the
known-good revision, spend, emergency cost mode and warm-ups. Firestore adapter.

Every "do this once" goes through `claim` (create-if-absent), every state flip
through `transact`, one read-modify-write transaction on one named record, so
concurrent or repeated deliveries act at most once. The flips' rules live in
domain/ (rollback_window, billing_intervals, emergency); a store only stores.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from domain import billing_intervals, emergency, rollback_window

# A rule over one stored record: its current value ({} when absent) -> (value to store or None, answer).
Change = Callable[[dict], tuple[dict | None, Any]]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class OpsStore(abc.ABC):
    @abc.abstractmethod
    def claim(self, key: str, **fields) -> bool:
        """Record that `key` is being acted on; False when it already was."""

    @abc.abstractmethod
    def release(self, key: str) -> None:
        """Forget a claim whose action failed, so a retry can act."""

    @abc.abstractmethod
    def record(self, kind: str, **fields) -> None:
        """Append to the operations log (every action, and every refusal worth reading)."""

    @abc.abstractmethod
    def record_once(self, key: str, kind: str, **fields) -> bool:
        """Log entry `key` once: False when it is already there (a retry of an action that got that far)."""

    @abc.abstractmethod
    def known_good(self, service: str) -> str | None: ...

    @abc.abstractmethod
    def set_known_good(self, service: str, revision: str, **fields) -> None: ...

    @abc.abstractmethod
    def transact(self, name: str, change: Change) -> Any:
        """Apply `change` to the state record `name` atomically; returns its answer."""

    @abc.abstractmethod
    def state(self, name: str) -> dict:
        """The state record `name` as stored ({} when there is none), read outside any transaction."""

    def take_rollback_slot(self, service: str, window: timedelta, now: datetime) -> bool:
        """At most one rollback per service per window: False when one happened within it."""
        return self.transact(f"rollback-{service}", lambda doc: rollback_window.take_slot(doc, window, now))

    def release_rollback_slot(self, service: str, taken_at: datetime) -> None:
        """Give back a slot whose rollback failed."""
        self.transact(f"rollback-{service}", lambda doc: rollback_window.release_slot(doc, taken_at))

    def note_interval(self, budget_id: str, interval: datetime) -> bool:
        """Remember the newest billing interval seen; False when `interval` is older (a stale message)."""
        return self.transact(f"budget-{budget_id}", lambda doc: billing_intervals.note(doc, interval))

    @abc.abstractmethod
    def record_spend(self, budget_id: str, interval: datetime, **fields) -> None: ...

    @abc.abstractmethod
    def latest_spend(self) -> dict | None: ...

    def emergency(self) -> dict | None:
        """The emergency cost mode record while it is on, else None."""
        record = self.state("emergency")
        return record if record.get("active") else None

    def enter_emergency(self, budget_id: str, interval: datetime, **saved) -> bool:
        return self.transact("emergency", lambda doc: emergency.enter(doc, budget_id, interval, utcnow(), **saved))

    def leave_emergency(self, budget_id: str, interval: datetime) -> dict | None:
        """Leave it when `interval` is newer than the one that entered it; returns that record."""
        return self.transact("emergency", lambda doc: emergency.leave(doc, budget_id, interval, utcnow()))

    @abc.abstractmethod
    def record_warmup(self, at: datetime) -> None: ...

    @abc.abstractmethod
    def warmups_since(self, since: datetime) -> int: ...

    @abc.abstractmethod
    def warmups_between(self, start: datetime, end: datetime) -> list[datetime]:
        """When each warm-up in [start, end) was sent, oldest first."""


class FirestoreOps(OpsStore):
    """`client` is the operations database. The jobs the operations functions count are
    read through the jobs repository (adapters/jobs.py), never from here."""

    def __init__(self, client, *, known_good_collection: str = "known_good", prefix: str = "ops_"):
        self._db = client
        self._known_good = client.collection(known_good_collection)
        self._actions = client.collection(prefix + "actions")
        self._log = client.collection(prefix + "log")
        self._state = client.collection(prefix + "state")
        self._spend = client.collection(prefix + "spend")
        self._spend_log = client.collection(prefix + "spend_log")
        self._warmups = client.collection(prefix + "warmups")

    @staticmethod
    def _id(key: str) -> str:
        return key.replace("/", "_")

    def claim(self, key: str, **fields) -> bool:
        from google.api_core import exceptions

        try:
            self._actions.document(self._id(key)).create({"key": key, "at": utcnow(), **fields})
        except exceptions.AlreadyExists:
            return False
        return True

    def release(self, key: str) -> None:
        self._actions.document(self._id(key)).delete()

    def record(self, kind: str, **fields) -> None:
        self._log.add({"kind": kind, "at": utcnow(), **fields})

    def record_once(self, key: str, kind: str, **fields) -> bool:
        from google.api_core import exceptions

        try:
            self._log.document(self._id(key)).create({"kind": kind, "at": utcnow(), "key": key, **fields})
        except exceptions.AlreadyExists:
            return False
        return True

    def known_good(self, service: str) -> str | None:
        snap = self._known_good.document(service).get()
        return snap.get("revision") if snap.exists else None

    def set_known_good(self, service: str, revision: str, **fields) -> None:
        self._known_good.document(service).set({"service": service, "revision": revision, "at": utcnow(), **fields})

    def transact(self, name: str, change: Change) -> Any:
        from google.cloud import firestore

        ref = self._state.document(self._id(name))

        @firestore.transactional
        def run(transaction):
            snap = ref.get(transaction=transaction)
            new, result = change(snap.to_dict() if snap.exists else {})
            if new is not None:
                transaction.set(ref, new)
            return result

        return run(self._db.transaction())

    def state(self, name: str) -> dict:
        snap = self._state.document(self._id(name)).get()
        return snap.to_dict() if snap.exists else {}

    def record_spend(self, budget_id: str, interval: datetime, *, at: datetime | None = None, **fields) -> None:
        doc = self._spend.document(self._id(f"{budget_id}-{interval.isoformat()}"))
        now = at or utcnow()
        doc.set({"budget_id": budget_id, "interval_start": interval, "updated_at": now, **fields})
        # Billing sends the interval's running cost several times a day
        # (https://cloud.google.com/billing/docs/how-to/budgets-programmatic-notifications):
        # each distinct figure, kept, gives the day-by-day spend (domain/kpi.py daily_costs).
        # One document per figure, so a redelivery writes nothing new.
        from google.api_core import exceptions

        try:
            self._spend_log.document(self._id(f"{budget_id}-{interval.isoformat()}-{fields.get('cost')}")).create(
                {"budget_id": budget_id, "interval_start": interval, "cost": fields.get("cost"), "at": now})
        except exceptions.AlreadyExists:
            pass

    def latest_spend(self) -> dict | None:
        from google.cloud import firestore

        query = self._spend.order_by("interval_start", direction=firestore.Query.DESCENDING).limit(1)
        return next((snap.to_dict() for snap in query.stream()), None)

    def record_warmup(self, at: datetime) -> None:
        self._warmups.add({"at": at})

    def warmups_since(self, since: datetime) -> int:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._warmups.where(filter=FieldFilter("at", ">=", since)).count()
        return int(query.get()[0][0].value)

    def warmups_between(self, start: datetime, end: datetime) -> list[datetime]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._warmups.where(filter=FieldFilter("at", ">=", start)).where(filter=FieldFilter("at", "<", end))
        return sorted(snap.get("at") for snap in query.stream())
