"""The GPU worker's idempotency and acknowledgement outcomes, over fakes."""

import io

import numpy as np
import pytest
from PIL import Image

from events.schemas import JobEvent, SegmentRequest
from gpu_service.worker import Outcome, Worker, result_name
from settings import Settings
from tests.fakes import FakeBlobs, FakeLeases, FakePublisher

SETTINGS = Settings(lease_seconds=60)


def half_mask(image: Image.Image) -> np.ndarray:
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
    assert {"download", "decode", "inference", "encode", "upload"} <= set(succeeded.timings)


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


def test_a_transient_error_raises_and_frees_the_lease(parts):
    blobs, leases, publisher = parts
    request = request_for(blobs, jpeg())

    def broken(image):
        raise RuntimeError("CUDA error: device lost")

    with pytest.raises(RuntimeError):
        make_worker(parts, segment=broken).process(request)
    assert leases.leases[request.job_id]["holder"] == ""  # the retry need not wait for expiry
    assert make_worker(parts).process(request) is Outcome.DONE


def test_output_formats_have_their_content_types(parts):
    blobs, _, _ = parts
    for fmt, content_type in (("webp", "image/webp"), ("jpeg", "image/jpeg")):
        request = request_for(blobs, jpeg(), job_id=fmt * 8, output_format=fmt)
        make_worker(parts).process(request)
        assert blobs.objects[(SETTINGS.results_bucket, result_name(request))][1] == content_type
