"""Intake (Pub/Sub, object-finalize): check an upload by its bytes, then queue it.

A bad upload ends `rejected` here and never wakes the GPU service. Bytes already
segmented by the same engine and weights (domain/cache.py) go to the render
function instead, which cuts them out from the stored mask without the GPU.
Delivery is at least once: the job's state and recorded generation make a repeat
a no-op, and the route is recorded on the job (`cache_entry`) when it is queued,
so a republish takes the same one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from adapters.blobs import BlobError, BlobStore, NotFound
from adapters.jobs import JobRepository
from adapters.logs import log
from adapters.messages import Publisher
from domain.cache import entry_for
from domain.jobs import Job, State
from domain.uploads import Rejected, inspect
from events.schemas import GcsObjectEvent, RenderRequest, SegmentRequest, encode
from settings import Settings

logger = logging.getLogger(__name__)
UPLOAD_PREFIX = "uploads/"


def handle(event: GcsObjectEvent, *, jobs: JobRepository, blobs: BlobStore, publisher: Publisher,
           settings: Settings) -> str:
    """Returns what happened, as a short outcome word (for logs and tests)."""
    if event.event_type != "OBJECT_FINALIZE" or event.bucket != settings.uploads_bucket:
        return "ignored"
    if not event.name.startswith(UPLOAD_PREFIX):
        return "ignored"
    job_id = event.name[len(UPLOAD_PREFIX):]
    job = jobs.get(job_id)
    if job is None:
        log(logger, logging.WARNING, "upload without a job", object=event.name)
        return "orphan"
    if job.state is not State.AWAITING_UPLOAD:
        return _maybe_republish(job, event, publisher, settings, jobs)

    try:
        # The stored bytes as they are, size-checked by metadata before any is read.
        data = blobs.read(event.bucket, event.name, event.generation, max_bytes=settings.max_upload_bytes)
        info = inspect(data, job.content_type, settings.max_upload_bytes, settings.intake_decode_budget,
                       settings.gpu_decode_budget)
    except NotFound:
        # Overwritten by a later upload: that generation's notification decides.
        return "stale_generation"
    except (BlobError, Rejected) as refused:  # NotFound is caught above
        rejected = _as_rejected(refused)
        now = datetime.now(timezone.utc)
        jobs.update(job_id, lambda j: j.move(State.REJECTED, now, reason=rejected.reason, detail=rejected.detail,
                                             upload_generation=event.generation))
        log(logger, logging.INFO, "upload rejected", job_id=job_id, reason=rejected.reason, detail=rejected.detail)
        return f"rejected:{rejected.reason}"

    entry = _cached_mask(data, blobs, settings)
    now = datetime.now(timezone.utc)
    queued, changed = jobs.update(job_id, lambda j: j.move(State.QUEUED, now, upload_generation=event.generation,
                                                           cache_entry=entry))
    if not changed:
        return "duplicate"
    _publish(queued, event, publisher, settings, jobs)
    log(logger, logging.INFO, "upload queued", job_id=job_id, width=info.width, height=info.height, kind=info.kind,
        cache="hit" if entry else "miss")
    return "queued"


def _cached_mask(data: bytes, blobs: BlobStore, settings: Settings) -> str:
    """The cache entry holding a mask of exactly these bytes by this engine, or ""."""
    entry = entry_for(data, settings.engine_identity)
    return entry if entry and blobs.exists(settings.cache_bucket, entry) else ""


def _as_rejected(refused: Exception) -> Rejected:
    if isinstance(refused, BlobError):
        return Rejected(refused.reason, str(refused))
    return refused


def _publish(job: Job, event: GcsObjectEvent, publisher: Publisher, settings: Settings, jobs: JobRepository) -> None:
    job_id = job.job_id
    request = SegmentRequest(job_id=job_id, bucket=event.bucket, object=event.name, generation=event.generation,
                             content_type=job.content_type, output_format=job.output_format, effect=job.effect)
    if job.cache_entry:
        request = RenderRequest(**request.model_dump(), cache_entry=job.cache_entry)
    publisher.publish(settings.render_topic if job.cache_entry else settings.segment_topic, encode(request),
                      job_id=job_id)

    def mark(j: Job) -> bool:
        if j.request_published:
            return False
        j.request_published = True
        return True

    jobs.update(job_id, mark)


def _maybe_republish(job: Job, event: GcsObjectEvent, publisher, settings, jobs) -> str:
    """A repeat of a notification we queued but crashed before publishing: finish it."""
    if job.state is State.QUEUED and job.upload_generation == event.generation and not job.request_published:
        _publish(job, event, publisher, settings, jobs)
        return "republished"
    return "duplicate"
