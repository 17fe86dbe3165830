"""Upload URL (HTTP): a job id and a V4 signed PUT URL for the shopper's photo."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from adapters.blobs import BlobStore
from adapters.jobs import JobRepository
from domain.jobs import Job
from domain.uploads import check_request
from events.schemas import UploadUrlRequest, UploadUrlResponse
from settings import Settings


def new_job_id() -> str:
    # 122 random bits: a job id is the shopper's only key to their photo.
    return uuid.uuid4().hex


def handle(request: UploadUrlRequest, *, jobs: JobRepository, blobs: BlobStore,
           settings: Settings) -> UploadUrlResponse:
    """Raises domain.uploads.Rejected for a type or size the store never accepts."""
    check_request(request.content_type, request.size, settings.max_upload_bytes)
    now = datetime.now(timezone.utc)
    job_id = new_job_id()
    # The object name is ours, never the shopper's: nothing in it comes from the request.
    object_name = f"uploads/{job_id}"
    ttl = timedelta(seconds=settings.upload_url_ttl_seconds)
    # The size range is the declared size: the URL cannot carry a bigger file.
    url, headers = blobs.signed_put_url(settings.uploads_bucket, object_name, request.content_type, request.size, ttl)
    jobs.create(
        Job(
            job_id=job_id,
            content_type=request.content_type,
            declared_size=request.size,
            output_format=request.output_format,
            effect=request.effect,
            session_id=request.session_id,
            upload_object=object_name,
            timestamps={"awaiting_upload": now},
            expire_at=now + timedelta(days=settings.job_retention_days),
        )
    )
    return UploadUrlResponse(job_id=job_id, upload_url=url, headers=headers, expires_at=now + ttl)
