"""Job status (HTTP): state, reason, timings and, once done, a short-lived result URL."""

from __future__ import annotations

import re
from datetime import timedelta

from adapters.blobs import BlobStore
from adapters.jobs import JobRepository
from domain.jobs import State
from settings import Settings

JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def handle(job_id: str, *, jobs: JobRepository, blobs: BlobStore, settings: Settings) -> dict | None:
    """None when there is no such job (or the id is not even well formed)."""
    if not JOB_ID.match(job_id or ""):
        return None
    job = jobs.get(job_id)
    if job is None:
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
        "cache_hit": job.cache_hit,  # cut out from a stored mask, without the GPU
    }
    if job.state is State.DONE and job.result_object:
        ttl = timedelta(seconds=settings.result_url_ttl_seconds)
        body["result_url"] = blobs.signed_get_url(settings.results_bucket, job.result_object, ttl)
    return body
