"""The GPU worker's idempotency and acknowledgement outcomes, over fakes."""

import io
import logging
import threading
import time

import numpy as np
import pytest
from PIL import Image

from adapters.blobs import BlobError, Encoded, NotFound, TooLarge
from events.schemas import JobEvent, SegmentRequest
from gpu_service.worker import Outcome, Worker, result_name
from settings import Settings
from tests.fakes import FakeBlobs, FakeLeases, FakePublisher

SETTINGS = Settings(lease_seconds=60)


def half_mask(image: Image.Image, timeout: float | None = None) -> np.ndarray:
    mask = np.zeros((image.height, image.width), np.float32)
    mask[:, : image.width // 2] = 1.0
    return mask


@pytest.fixture
def parts():
    return FakeBlobs(), FakeLeases(), FakePublisher()


def make_worker(parts, segment=half_mask) -> Worker:
    blobs, leases, publisher = parts
    return Worker(blobs=blobs, leases=leases, publisher=publisher, segment=segment, settings=SETTINGS)


def request_for(blobs, data: bytes, job_id="a" * 32, output_format="png") -> SegmentRequest:
    generation = blobs.put(SETTINGS.uploads_bucket, f"uploads/{job_id}", data, "image/jpeg")
    return SegmentRequest(job_id=job_id, bucket=SETTINGS.uploads_bucket, object=f"uploads/{job_id}",
                          generation=generation, content_type="image/jpeg", output_format=output_format)


def jpeg(size=(80, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "tan").save(out, "JPEG")
    return out.getvalue()


def kinds(publisher) -> list[str]:
    return [JobEvent.model_validate_json(m).kind for m in publisher.on(SETTINGS.job_events_topic)]


def test_a_job_is_written_once_and_reported(parts):
    blobs, leases, publisher = parts
    request = request_for(blobs, jpeg())
    worker = make_worker(parts)
    assert worker.process(request) is Outcome.DONE
    assert worker.process(request) is Outcome.DUPLICATE  # redelivery: same result, reported again
    data, content_type, _ = blobs.objects[(SETTINGS.results_bucket, result_name(request))]
    cut_out = Image.open(io.BytesIO(data))
    assert content_type == "image/png" and cut_out.size == (80, 60) and cut_out.mode == "RGBA"
    assert kinds(publisher) == ["started", "succeeded", "succeeded"]
    succeeded = JobEvent.model_validate_json(publisher.on(SETTINGS.job_events_topic)[1])
    assert {"download", "decode", "segment", "encode", "upload"} <= set(succeeded.timings)


def test_a_live_lease_of_another_attempt_means_retry_later(parts):
    blobs, leases, publisher = parts
    request = request_for(blobs, jpeg())
    leases.acquire(request.job_id, "another-instance", 60)
    assert make_worker(parts).process(request) is Outcome.BUSY
    assert publisher.messages == []


def test_an_expired_lease_is_taken_over_as_the_next_attempt(parts):
    blobs, leases, publisher = parts
    request = request_for(blobs, jpeg())
    leases.acquire(request.job_id, "dead-instance", -1)  # its holder died; the lease ran out
    assert make_worker(parts).process(request) is Outcome.DONE
    started = JobEvent.model_validate_json(publisher.on(SETTINGS.job_events_topic)[0])
    assert started.attempt == 2


def test_a_bad_image_fails_permanently_and_is_acknowledged(parts):
    blobs, _, publisher = parts
    request = request_for(blobs, jpeg()[:300])
    assert make_worker(parts).process(request) is Outcome.FAILED
    failed = JobEvent.model_validate_json(publisher.on(SETTINGS.job_events_topic)[-1])
    assert (failed.kind, failed.reason) == ("failed", "bad_image")
    assert not blobs.exists(SETTINGS.results_bucket, result_name(request))


def test_each_blob_refusal_carries_the_reason_a_job_records():
    # Byte for byte: job records, the KPI report and the e2e tests hold these strings.
    assert (NotFound("x").reason, Encoded("gzip").reason, TooLarge(2, 1).reason) == \
        ("upload_missing", "content_encoded", "too_large")
    assert all(issubclass(kind, BlobError) for kind in (NotFound, Encoded, TooLarge))


def test_an_upload_gone_before_the_worker_read_it_fails_as_upload_missing(parts):
    # (test_hostile_uploads.py covers the encoded and the oversized upload.)
    blobs, _, publisher = parts
    request = request_for(blobs, jpeg())
    del blobs.objects[(request.bucket, request.object)]  # the lifecycle rule took it
    assert make_worker(parts).process(request) is Outcome.FAILED
    failed = JobEvent.model_validate_json(publisher.on(SETTINGS.job_events_topic)[-1])
    assert (failed.kind, failed.reason) == ("failed", "upload_missing")


def test_a_transient_error_raises_and_frees_the_lease(parts):
    blobs, leases, publisher = parts
    request = request_for(blobs, jpeg())

    def broken(image, timeout=None):
        raise RuntimeError("CUDA error: device lost")

    with pytest.raises(RuntimeError, match="device lost"):  # the engine's own error, passed on
        make_worker(parts, segment=broken).process(request)
    assert leases.leases[request.job_id]["holder"] == ""  # the retry need not wait for expiry
    assert make_worker(parts).process(request) is Outcome.DONE


def test_output_formats_have_their_content_types(parts):
    blobs, _, _ = parts
    for fmt, content_type in (("webp", "image/webp"), ("jpeg", "image/jpeg")):
        request = request_for(blobs, jpeg(), job_id=fmt * 8, output_format=fmt)
        make_worker(parts).process(request)
        assert blobs.objects[(SETTINGS.results_bucket, result_name(request))][1] == content_type


# --- long jobs: the lease is renewed while the worker works; the deadline stops it ---

class SlowSegmenter:
    """A forward pass that takes `seconds` (longer than the lease in these tests); counts its calls."""

    def __init__(self, seconds: float, while_running=lambda: None):
        self.seconds = seconds
        self.calls = 0
        self.while_running = while_running

    def __call__(self, image, timeout=None):
        self.calls += 1
        self.while_running()
        time.sleep(self.seconds)
        return half_mask(image)


def worker_with(parts, segment, **settings) -> Worker:
    blobs, leases, publisher = parts
    return Worker(blobs=blobs, leases=leases, publisher=publisher, segment=segment,
                  settings=Settings(**{"lease_seconds": 0.3, "lease_renew_seconds": 0.05, **settings}))


def test_a_job_slower_than_its_lease_keeps_it_and_a_redelivery_never_starts_a_second_pass(parts):
    blobs, leases, publisher = parts
    request = request_for(blobs, jpeg())
    slow = SlowSegmenter(1.2)  # four times the lease
    outcomes = {}
    first = threading.Thread(target=lambda: outcomes.update(first=worker_with(parts, slow).process(request)))
    first.start()
    time.sleep(0.8)  # the lease as first taken ran out long ago; only its renewals keep it
    assert worker_with(parts, slow).process(request) is Outcome.BUSY  # the redelivery is refused
    first.join(5)
    assert outcomes["first"] is Outcome.DONE
    assert worker_with(parts, slow).process(request) is Outcome.DUPLICATE  # and later finds the result
    assert slow.calls == 1
    assert kinds(publisher) == ["started", "succeeded", "succeeded"]


class NonRenewingLeases(FakeLeases):
    def renew(self, key, holder, seconds):
        return True  # says yes, extends nothing


def test_without_renewals_the_same_redelivery_would_have_taken_the_job_over(parts):
    """The control for the test above: the lease alone (0.3 s) does not cover a 1.2 s pass."""
    blobs, _, publisher = parts
    leases = NonRenewingLeases()
    request = request_for(blobs, jpeg())
    slow = SlowSegmenter(1.2)
    first = threading.Thread(target=worker_with((blobs, leases, publisher), slow).process, args=(request,))
    first.start()
    time.sleep(0.8)
    redelivered = worker_with((blobs, leases, publisher), slow).process(request)  # through the worker, not the fake
    first.join(5)
    assert redelivered is not Outcome.BUSY and slow.calls == 2  # it took the job over: a second forward pass


def test_work_past_the_deadline_writes_nothing_frees_the_lease_and_asks_for_a_retry(parts, caplog):
    blobs, leases, publisher = parts
    request = request_for(blobs, jpeg())
    with caplog.at_level(logging.WARNING, logger="gpu_service.worker"):
        outcome = worker_with(parts, SlowSegmenter(0.5), job_deadline_seconds=0.2).process(request)
    assert outcome is Outcome.ABANDONED and outcome.retry
    assert not blobs.exists(SETTINGS.results_bucket, result_name(request))
    assert kinds(publisher) == ["started"]  # no succeeded, no failed: the job is not over
    assert leases.leases[request.job_id]["holder"] == ""  # the redelivery need not wait for expiry
    assert [r.fields["why"] for r in caplog.records] == ["deadline passed during segment"]


def test_a_forward_pass_that_times_out_is_abandoned(parts):
    blobs, leases, publisher = parts
    request = request_for(blobs, jpeg())
    seen = []

    def timing_out(image, timeout):
        seen.append(timeout)
        raise TimeoutError

    outcome = worker_with(parts, timing_out, job_deadline_seconds=5).process(request)
    assert outcome is Outcome.ABANDONED and 0 < seen[0] <= 5  # told how long it may take
    assert not blobs.exists(SETTINGS.results_bucket, result_name(request))


def test_a_lease_lost_to_another_worker_abandons_the_job_without_writing(parts):
    blobs, leases, publisher = parts
    request = request_for(blobs, jpeg())

    def taken_over():  # e.g. our renewals could not reach Firestore and the lease ran out
        threading.Timer(0.1, lambda: leases.leases[request.job_id].update(holder="other-instance")).start()

    outcome = worker_with(parts, SlowSegmenter(0.5, while_running=taken_over)).process(request)
    assert outcome is Outcome.ABANDONED
    assert not blobs.exists(SETTINGS.results_bucket, result_name(request))
    assert leases.leases[request.job_id]["holder"] == "other-instance"  # its lease is left alone
