"""Status tracking (Pub/Sub): apply the GPU service's job events to the job.

Each event is applied in a transaction and only moves a job forward, so a
repeated, late or out-of-order event changes nothing.
"""

from __future__ import annotations

from adapters.jobs import JobRepository
from domain.jobs import Job, State
from events.schemas import JobEvent


def apply(job: Job, event: JobEvent) -> bool:
    """The pure part: mutate `job` for `event`; returns whether it changed."""
    if event.kind == "started":
        changed = job.move(State.PROCESSING, event.at)
        if event.cold_start and not job.cold_start and not job.is_terminal:
            job.cold_start = changed = True
        if not job.is_terminal and event.attempt > job.attempts:
            job.attempts = event.attempt
            changed = True
        return changed
    if event.kind == "succeeded":
        return job.move(State.DONE, event.at, result_object=event.result_object, timings=event.timings,
                        low_confidence=event.low_confidence, attempts=max(job.attempts, event.attempt),
                        cache_hit=event.cache_hit, gpu_seconds_saved=event.gpu_seconds_saved)
    return job.move(State.FAILED, event.at, reason=event.reason or "failed", detail=event.detail,
                    timings=event.timings, attempts=max(job.attempts, event.attempt))


def handle(event: JobEvent, *, jobs: JobRepository) -> str:
    job, changed = jobs.update(event.job_id, lambda job: apply(job, event))
    if job is None:
        return "unknown_job"
    return "applied" if changed else "no_change"
