"""Job records: an abstract repository and its Firestore adapter.

Besides one job at a time, the repository answers the few questions the operations
functions ask of all jobs (pre-warm, warm, cost report): plain queries on the stored
timestamps and cache fields, read only. What the answers mean is theirs (domain/)."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import datetime

from domain.jobs import Job, State

Mutation = Callable[[Job], bool]
# Contended transactions retry with backoff; the client default (5) gives up early under bursts.
MAX_ATTEMPTS = 20


class JobRepository(abc.ABC):
    @abc.abstractmethod
    def create(self, job: Job) -> None:
        """Store a new job; raises if the id exists."""

    @abc.abstractmethod
    def get(self, job_id: str) -> Job | None: ...

    @abc.abstractmethod
    def update(self, job_id: str, mutate: Mutation) -> tuple[Job | None, bool]:
        """Read, mutate and write atomically. `mutate` returns whether it changed
        anything (nothing is written otherwise). Returns (job, changed)."""

    @abc.abstractmethod
    def last_job_finished_at(self) -> datetime | None:
        """The newest `done` time of any job; None when no job is done."""

    @abc.abstractmethod
    def uploads_between(self, start: datetime, end: datetime) -> list[datetime]:
        """When each job in [start, end) was queued (its upload arrived and passed intake), oldest first."""

    @abc.abstractmethod
    def jobs_done_since(self, since: datetime) -> int:
        """How many jobs have a `done` time at or after `since`."""

    @abc.abstractmethod
    def cache_hits_since(self, since: datetime) -> tuple[int, float]:
        """Jobs done since `since` from a cached mask, and the GPU seconds they saved in all."""


def to_doc(job: Job) -> dict:
    doc = asdict(job)
    doc["state"] = job.state.value
    return doc


def from_doc(doc: dict) -> Job:
    known = {f.name for f in fields(Job)}
    values = {k: v for k, v in doc.items() if k in known}
    values["state"] = State(values.get("state", State.AWAITING_UPLOAD.value))
    return Job(**values)


class FirestoreJobs(JobRepository):
    def __init__(self, client, collection: str = "jobs"):
        self._client = client
        self._collection = client.collection(collection)

    def create(self, job: Job) -> None:
        self._collection.document(job.job_id).create(to_doc(job))

    def get(self, job_id: str) -> Job | None:
        snap = self._collection.document(job_id).get()
        return from_doc(snap.to_dict()) if snap.exists else None

    def update(self, job_id: str, mutate: Mutation) -> tuple[Job | None, bool]:
        from google.cloud import firestore

        ref = self._collection.document(job_id)

        @firestore.transactional
        def run(transaction):
            snap = ref.get(transaction=transaction)
            if not snap.exists:
                return None, False
            job = from_doc(snap.to_dict())
            changed = mutate(job)
            if changed:
                transaction.set(ref, to_doc(job))
            return job, changed

        return run(self._client.transaction(max_attempts=MAX_ATTEMPTS))

    def last_job_finished_at(self) -> datetime | None:
        from google.cloud import firestore

        # Ordering by a field leaves out the documents without it: jobs not done.
        # https://firebase.google.com/docs/firestore/query-data/order-limit-data
        query = self._collection.order_by("timestamps.done", direction=firestore.Query.DESCENDING).limit(1)
        for snap in query.stream():
            return snap.get("timestamps.done")
        return None

    def uploads_between(self, start: datetime, end: datetime) -> list[datetime]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = (self._collection.where(filter=FieldFilter("timestamps.queued", ">=", start))
                 .where(filter=FieldFilter("timestamps.queued", "<", end)))
        return sorted(snap.get("timestamps.queued") for snap in query.stream())

    def jobs_done_since(self, since: datetime) -> int:
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = self._collection.where(filter=FieldFilter("timestamps.done", ">=", since)).count()
        return int(query.get()[0][0].value)

    def cache_hits_since(self, since: datetime) -> tuple[int, float]:
        from google.cloud.firestore_v1.base_query import FieldFilter

        # One aggregation over the hits (a composite index: infra/firestore.tf); sum() ignores
        # jobs without the field. https://cloud.google.com/firestore/docs/query-data/aggregation-queries
        query = (self._collection.where(filter=FieldFilter("cache_hit", "==", True))
                 .where(filter=FieldFilter("timestamps.done", ">=", since))
                 .count(alias="hits").sum("gpu_seconds_saved", alias="saved"))
        found = {r.alias: r.value for r in query.get()[0]}
        return int(found.get("hits") or 0), float(found.get("saved") or 0.0)
