"""Job records: an abstract repository and its Firestore adapter."""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import asdict, fields

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
