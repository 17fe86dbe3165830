"""Variant (public HTTP): a done job's cut-out in another format, effect, background, crop or
size, rendered from its stored mask on this function's CPU. No GPU request: nothing here
touches the segment topic or the GPU service.

Idempotent by spec: the canonical spec's hash names the object (domain/variants.py), written
once; a second request for the same spec signs the object the first one wrote.
Only the session that created the job is answered (domain/sessions.py `owns`): any other gets
what an unknown id gets. Each job has at most VARIANT_MAX_SPECS distinct specs, counted on the job
in one transaction before anything renders; one more is refused with 429 and writes nothing.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone

from adapters.blobs import BlobError, BlobStore, NotFound
from adapters.jobs import JobRepository
from adapters.logs import log
from domain.jobs import State
from domain.outputs import mask_name
from domain.sessions import owns
from domain.variants import JOB_ID, MEDIA_TYPES, BadSpec, VariantRequest, admit_spec, canonical, object_name, spec_hash
from settings import Settings

logger = logging.getLogger(__name__)


class Refused(Exception):
    """The answer is an error: an HTTP status, a stable reason and what the shopper can do."""

    def __init__(self, status: int, reason: str, detail: str = ""):
        super().__init__(f"{status} {reason}: {detail}")
        self.status, self.reason, self.detail = status, reason, detail


def handle(request: VariantRequest, session: str | None, *, jobs: JobRepository, blobs: BlobStore,
           settings: Settings, render=None) -> dict:
    """The variant's signed GET URL. Raises Refused."""
    try:
        spec = canonical(request.spec, settings.output_max_side)
    except BadSpec as bad:
        raise Refused(400, "bad_spec", str(bad)) from bad
    job = jobs.get(request.job_id) if JOB_ID.match(request.job_id) else None
    if job is None or not owns(job.session_id, session):
        raise Refused(404, "not_found")  # one answer for a malformed id, an unknown one and another's
    if job.state is not State.DONE:
        raise Refused(409, "not_done", f"the job is {job.state.value}: variants need a done job")
    name = object_name(job.job_id, spec)
    cached = blobs.exists(settings.results_bucket, name)
    if not cached:
        _count(job.job_id, spec_hash(spec), jobs, settings.variant_max_specs)
        started = time.perf_counter()
        data = _render(job, spec, blobs, settings, render)
        # A concurrent request for the same spec may have written it first: same bytes, keep theirs
        # (write_once: if-generation-match 0, https://cloud.google.com/storage/docs/request-preconditions).
        blobs.write_once(settings.results_bucket, name, data, MEDIA_TYPES[spec["format"]])
        log(logger, logging.INFO, "variant rendered", job_id=job.job_id, object=name, bytes=len(data),
            seconds=round(time.perf_counter() - started, 3))
    ttl = timedelta(seconds=settings.result_url_ttl_seconds)
    return {"job_id": job.job_id, "object": name, "cached": cached, "spec": spec,
            "url": blobs.signed_get_url(settings.results_bucket, name, ttl),
            "expires_at": (datetime.now(timezone.utc) + ttl).isoformat()}


def _count(job_id: str, key: str, jobs: JobRepository, cap: int) -> None:
    """The spec counted against the job's cap, atomically (one transaction on the job); a spec
    already counted (a retry, a concurrent twin) costs nothing. Raises Refused(429) past the cap."""
    job, _ = jobs.update(job_id, lambda j: admit_spec(j, key, cap))
    if job is None or key not in job.variant_specs:
        raise Refused(429, "too_many_variants",
                      f"this cut-out already has {cap} different variants: reuse one of them")


def _render(job, spec: dict, blobs: BlobStore, settings: Settings, render) -> bytes:
    # Imported here: PIL, numpy and OpenCV load only into an instance that renders.
    from cutout.imaging import BadImage
    from cutout.variant_render import BadMask, render_variant

    render = render or render_variant

    try:
        mask = blobs.read(settings.results_bucket, mask_name(job.job_id))
    except NotFound as gone:
        raise Refused(409, "no_mask", "this cut-out was made before masks were kept: upload the photo again") from gone
    try:
        photo = blobs.read(settings.uploads_bucket, job.upload_object, job.upload_generation or None,
                           max_bytes=settings.max_upload_bytes)
    except NotFound as gone:
        # topology.yaml: uploads are deleted after 7 days, results after 30.
        raise Refused(410, "photo_expired", "the original photo is kept 7 days: upload it again") from gone
    except BlobError as refused:  # NotFound is caught above
        raise Refused(422, "bad_image", str(refused)) from refused
    try:
        return render(photo, mask, spec, settings.variant_decode_budget)
    except BadImage as bad:
        raise Refused(422, bad.reason, str(bad)) from bad
    except BadMask as bad:
        log(logger, logging.ERROR, "stored mask does not fit its photo", job_id=job.job_id, detail=str(bad))
        raise Refused(409, "no_mask", "the stored mask does not fit the photo: upload it again") from bad
