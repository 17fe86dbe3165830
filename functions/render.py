"""Render (Pub/Sub, render-requests): a cache hit's cut-out, from the shopper's own upload
and the stored mask of the same bytes, without the GPU service.

Intake sends a job here when domain/cache.py found a mask for its exact bytes. The
job gets its own mask and result objects (the earlier job's are never touched or
shared), written once, mask first, as the GPU worker writes them; then a
`succeeded` event with `cache_hit`. A redelivery finds the result and reports it
again. An entry that expired, or does not fit the decoded image, sends the job to
the GPU path instead: a miss costs a forward pass, never a wrong cut-out.
"""

from __future__ import annotations

import logging

from adapters.blobs import BlobError, BlobStore, NotFound
from adapters.logs import log
from adapters.messages import Publisher
from cutout import imaging, masks
from cutout.stopwatch import Stopwatch
from domain import subject
from domain.outputs import mask_name, result_name
from events.schemas import JobEvent, RenderRequest, encode
from settings import Settings

logger = logging.getLogger(__name__)


def handle(request: RenderRequest, *, blobs: BlobStore, publisher: Publisher, settings: Settings) -> str:
    """Returns what happened, as a short outcome word (for logs and tests)."""
    name = result_name(request.job_id, request.output_format)
    if blobs.exists(settings.results_bucket, name):
        _report(publisher, settings,
                JobEvent(job_id=request.job_id, kind="succeeded", result_object=name, cache_hit=True))
        return "duplicate"
    watch = Stopwatch()
    lap, timings = watch.lap, watch.timings

    try:
        stored = blobs.read(settings.cache_bucket, request.cache_entry, max_bytes=settings.max_upload_bytes)
        mask, saved = masks.decode(stored, settings.max_pixels)
    except (NotFound, masks.BadMask) as gone:  # expired since intake looked, or not ours: the GPU path
        return _to_gpu(request, publisher, settings, f"cache entry unusable: {gone}")
    try:
        data = blobs.read(request.bucket, request.object, request.generation, max_bytes=settings.max_upload_bytes)
        lap("download")
        image = imaging.decode(data, settings.render_decode_budget)
        lap("decode")
    except (imaging.BadImage, BlobError) as exc:
        reason = exc.reason
        _report(publisher, settings, JobEvent(job_id=request.job_id, kind="failed", reason=reason,
                                              detail=str(exc)[:300], timings=timings))
        return f"failed:{reason}"
    if mask.shape != (image.height, image.width):
        return _to_gpu(request, publisher, settings, f"mask {mask.shape[::-1]} does not fit image {image.size}")
    # The subject gate's verdict is the mask's: the same as the GPU job's (a no-subject one never left a mask).
    weak = subject.assess(mask).verdict is subject.Verdict.WEAK
    output = imaging.compose(image, mask, request.effect, request.output_format, settings.output_max_side)
    lap("render")
    blobs.write_once(settings.results_bucket, mask_name(request.job_id), masks.encode(masks.quantise(mask)),
                     masks.CONTENT_TYPE)
    written = blobs.write_once(settings.results_bucket, name, output, imaging.OUTPUT_TYPES[request.output_format])
    lap("upload")
    _report(publisher, settings, JobEvent(job_id=request.job_id, kind="succeeded", result_object=name, timings=timings,
                                   cache_hit=True, gpu_seconds_saved=saved, low_confidence=weak))
    log(logger, logging.INFO, "job done from the cache", job_id=request.job_id, written=written,
        gpu_seconds_saved=saved, low_confidence=weak, **timings)
    return "rendered" if written else "duplicate"


def _to_gpu(request: RenderRequest, publisher: Publisher, settings: Settings, why: str) -> str:
    publisher.publish(settings.segment_topic, encode(request.as_segment_request()), job_id=request.job_id)
    log(logger, logging.WARNING, "cache hit sent to the GPU after all", job_id=request.job_id, why=why)
    return "sent_to_gpu"


def _report(publisher: Publisher, settings: Settings, event: JobEvent) -> None:
    publisher.publish(settings.job_events_topic, encode(event), job_id=event.job_id, kind=event.kind)
