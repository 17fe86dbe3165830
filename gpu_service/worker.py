"""One segmentation job, start to finish, idempotently.

Order matters for at-least-once delivery:
1. a result already written means an earlier attempt finished: report it again;
2. a live lease held by another attempt means "retry later";
3. otherwise work, renewing the lease meanwhile (lease_keeper.py), so that a
   redelivery of a job in progress is refused and never starts a second forward
   pass; write the result with an if-not-exists precondition (a redelivery can
   never produce a second, different cut-out), then report.
Work stops at the job's deadline (settings.job_deadline_seconds, inside Cloud
Run's request timeout) or when the lease was lost: nothing is written, the lease
is released and the push is answered "retry later".
"""

from __future__ import annotations

import enum
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime

import numpy as np
from PIL import Image

from adapters.blobs import BlobError, BlobStore
from adapters.leases import LeaseStore
from adapters.logs import log
from adapters.messages import Publisher
from cutout import imaging, masks
from cutout.stopwatch import Stopwatch
from domain import outputs, subject
from domain.cache import EngineIdentity, entry_for
from events.schemas import JobEvent, SegmentRequest
from events.schemas import encode as encode_message
from gpu_service.lease_keeper import LeaseKeeper
from settings import Settings

logger = logging.getLogger(__name__)

# (image, timeout in seconds) -> mask; raises TimeoutError past the timeout.
Segmenter = Callable[[Image.Image, float], np.ndarray]


class Outcome(str, enum.Enum):
    DONE = "done"            # 2xx: result written and reported
    DUPLICATE = "duplicate"  # 2xx: an earlier attempt already finished it
    FAILED = "failed"        # 2xx: permanent failure, reported; retrying cannot help
    BUSY = "busy"            # non-2xx: another attempt holds the lease; retry later
    ABANDONED = "abandoned"  # non-2xx: past the deadline or the lease was lost; nothing written, retry later

    @property
    def retry(self) -> bool:
        """Whether Pub/Sub should deliver the message again (the push is answered non-2xx)."""
        return self in (Outcome.BUSY, Outcome.ABANDONED)


class _Abandon(Exception):
    """Stop this attempt: its deadline passed or its lease went to another worker."""


def result_name(request: SegmentRequest) -> str:
    return outputs.result_name(request.job_id, request.output_format)


class Worker:
    def __init__(self, *, blobs: BlobStore, leases: LeaseStore, publisher: Publisher, segment: Segmenter,
                 settings: Settings, identity: EngineIdentity | None = None):
        self.blobs = blobs
        # The engine's name and checkpoint checksum: the cache key's (None: no cache entries).
        self.identity = identity
        self.leases = leases
        self.publisher = publisher
        self.segment = segment
        self.settings = settings
        self.ready_at: datetime | None = None  # when this instance began serving (the runtime sets it)

    def _report(self, event: JobEvent) -> None:
        self.publisher.publish(self.settings.job_events_topic, encode_message(event),
                               job_id=event.job_id, kind=event.kind)

    def process(self, request: SegmentRequest) -> Outcome:
        """Raises on a transient failure (the caller answers non-2xx so Pub/Sub retries)."""
        name = result_name(request)
        if self.blobs.exists(self.settings.results_bucket, name):
            self._report(JobEvent(job_id=request.job_id, kind="succeeded", result_object=name))
            return Outcome.DUPLICATE
        settings = self.settings
        deadline = time.monotonic() + settings.job_deadline_seconds
        holder = uuid.uuid4().hex
        attempt = self.leases.acquire(request.job_id, holder, settings.lease_seconds)
        if attempt is None:
            return Outcome.BUSY
        try:
            with LeaseKeeper(self.leases, request.job_id, holder, seconds=settings.lease_seconds,
                             every=settings.lease_renew_interval) as keeper:
                cold = self.ready_at is not None and request.queued_at < self.ready_at
                self._report(JobEvent(job_id=request.job_id, kind="started", attempt=attempt, cold_start=cold))
                return self._run(request, name, attempt, keeper, deadline)
        except _Abandon as why:
            log(logger, logging.WARNING, "job abandoned: nothing written, Pub/Sub will redeliver",
                job_id=request.job_id, attempt=attempt, why=str(why), deadline_seconds=settings.job_deadline_seconds)
            return Outcome.ABANDONED
        finally:
            self.leases.release(request.job_id, holder)  # a no-op when the lease went to another worker

    def _run(self, request: SegmentRequest, name: str, attempt: int, keeper: LeaseKeeper,
             deadline: float) -> Outcome:
        def still_ours(stage: str) -> None:
            if keeper.lost:
                raise _Abandon(f"lease lost during {stage}")
            if time.monotonic() >= deadline:
                raise _Abandon(f"deadline passed during {stage}")

        watch = Stopwatch(after_lap=still_ours)
        lap, timings = watch.lap, watch.timings

        try:
            # Raw bytes, bounded by metadata first; the decode has its own budget (intake is not trusted).
            data = self.blobs.read(request.bucket, request.object, request.generation,
                                   max_bytes=self.settings.max_upload_bytes)
            lap("download")
            image = imaging.decode(data, self.settings.gpu_decode_budget)
            lap("decode")
            try:
                mask = self.segment(image, max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise _Abandon("deadline passed during segment") from None
            lap("segment")
            # The subject gate, here on the request's thread: no subject is final, like a bad image.
            gate = subject.assess(mask)
            if gate.verdict is subject.Verdict.NONE:
                raise imaging.BadImage(f"no clear subject in the photo: {gate.detail}", reason="no_subject")
            lap("gate")
            alpha = masks.quantise(mask)  # what cut_out keeps, and what the job's mask object holds
            output = imaging.compose(image, alpha, request.effect, request.output_format,
                                     self.settings.output_max_side)
            lap("encode")
        except (imaging.BadImage, BlobError) as exc:
            reason = exc.reason
            self._report(JobEvent(job_id=request.job_id, kind="failed", attempt=attempt, reason=reason,
                                  detail=str(exc)[:300], timings=timings))
            log(logger, logging.WARNING, "job failed permanently", job_id=request.job_id, reason=reason)
            return Outcome.FAILED
        self._keep_mask(request.job_id, data, alpha, sum(timings.values()))
        written = self.blobs.write_once(self.settings.results_bucket, name, output,
                                        imaging.OUTPUT_TYPES[request.output_format])
        lap("upload")
        weak = gate.verdict is subject.Verdict.WEAK
        self._report(JobEvent(job_id=request.job_id, kind="succeeded", attempt=attempt, result_object=name,
                              low_confidence=weak, timings=timings))
        log(logger, logging.INFO, "job done", job_id=request.job_id, attempt=attempt, written=written,
            low_confidence=weak, subject=gate.measures.as_dict(), **timings)
        return Outcome.DONE if written else Outcome.DUPLICATE

    def _keep_mask(self, job_id: str, data: bytes, alpha: np.ndarray, seconds: float) -> None:
        """The job's mask, then the cache entry for these bytes, both write-once and before the
        result: a result that exists always has its mask (and a redelivery rewrites neither)."""
        settings = self.settings
        png = masks.encode(alpha)  # once: the entry is the same file with a text chunk added
        self.blobs.write_once(settings.results_bucket, outputs.mask_name(job_id), png, masks.CONTENT_TYPE)
        if self.identity is not None and (entry := entry_for(data, self.identity)):
            # An entry already there is the same photo's mask from the same weights: keep it.
            self.blobs.write_once(settings.cache_bucket, entry, masks.with_gpu_seconds(png, seconds),
                                  masks.CONTENT_TYPE)
