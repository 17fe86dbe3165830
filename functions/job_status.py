"""Job status (HTTP): state, reason, timings and, once done, a short-lived result URL.

Only the session that created the job is answered: any other caller, like one with an unknown or
malformed id, gets None (404), so the job id names a job and never opens it."""

from __future__ import annotations

import re
from datetime import timedelta

from adapters.blobs import BlobStore
from adapters.jobs import JobRepository
from domain.jobs import State
from domain.sessions import owns
from settings import Settings

JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def handle(job_id: str, session: str | None, *, jobs: JobRepository, blobs: BlobStore,
           settings: Settings) -> dict | None:
    """None when there is no such job, the id is not even well formed, or `session` (verified) is
    not the job's."""
    if not JOB_ID.match(job_id or ""):
        return None
    job = jobs.get(job_id)
    if job is None or not owns(job.session_id, session):
        return None
    body = {
        "job_id": job.job_id,
        "state": job.state.value,
        "reason": job.reason,
        "detail": job.detail,
        "attempts": job.attempts,
        "low_confidence": job.low_confidence,  # done, but the subject gate found only a weak subject
        "stages": job.stage_seconds(),
        "timings": job.timings,
        "timestamps": {s.value: job.timestamps[s.value].isoformat() for s in State if s.value in job.timestamps},
        "result_url": None,
        # Not cache_hit: whether these bytes were cut out before is about other shoppers' uploads
        # (docs/security.md#the-content-cache). It stays on the job, for the KPI report.
    }
    if job.state is State.DONE and job.result_object:
        ttl = timedelta(seconds=settings.result_url_ttl_seconds)
        body["result_url"] = blobs.signed_get_url(settings.results_bucket, job.result_object, ttl)
    return body
