"""The functions' plain handlers over fakes: intake, status tracking, dead letters, upload URLs."""

import base64
import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from PIL import Image

from domain.jobs import State
from domain.uploads import Rejected
from events.schemas import GcsObjectEvent, JobEvent, PubSubMessage, SegmentRequest, UploadUrlRequest
from functions import dead_letter, intake, job_events, job_status, upload_url
from settings import Settings
from tests.fakes import FakeBlobs, FakeJobs, FakeLeases, FakePublisher

SETTINGS = Settings()
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "tan").save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def world():
    jobs, blobs, publisher = FakeJobs(), FakeBlobs(), FakePublisher()
    return jobs, blobs, publisher


def new_job(jobs, content_type="image/jpeg") -> str:
    response = upload_url.handle(UploadUrlRequest(content_type=content_type, size=1000), jobs=jobs,
                                 blobs=FakeBlobs(), settings=SETTINGS)
    return response.job_id


def finalize(blobs, job_id, data, content_type="image/jpeg") -> GcsObjectEvent:
    generation = blobs.put(SETTINGS.uploads_bucket, f"uploads/{job_id}", data, content_type)
    return GcsObjectEvent(event_type="OBJECT_FINALIZE", bucket=SETTINGS.uploads_bucket, name=f"uploads/{job_id}",
                          generation=generation)


def run_intake(world, event):
    jobs, blobs, publisher = world
    return intake.handle(event, jobs=jobs, blobs=blobs, publisher=publisher, settings=SETTINGS)


def test_upload_url_creates_the_job_with_a_server_made_object_name(world):
    jobs, blobs, _ = world
    response = upload_url.handle(UploadUrlRequest(content_type="image/png", size=5000, session_id="s1"),
                                 jobs=jobs, blobs=blobs, settings=SETTINGS)
    job = jobs.get(response.job_id)
    assert job.state is State.AWAITING_UPLOAD and job.upload_object == f"uploads/{response.job_id}"
    assert response.headers["x-goog-content-length-range"] == "0,5000"  # exactly what was declared
    assert len(response.job_id) == 32 and response.job_id != new_job(jobs)
    assert timedelta(days=29) < job.expire_at - job.timestamps["awaiting_upload"] <= timedelta(days=30)


def test_upload_url_refuses_before_creating_anything(world):
    jobs, blobs, _ = world
    with pytest.raises(Rejected):
        upload_url.handle(UploadUrlRequest(content_type="image/gif", size=10), jobs=jobs, blobs=blobs,
                          settings=SETTINGS)
    assert jobs.jobs == {}


def test_intake_queues_a_good_upload_once_for_three_deliveries(world):
    jobs, blobs, publisher = world
    job_id = new_job(jobs)
    event = finalize(blobs, job_id, jpeg_bytes())
    outcomes = [run_intake(world, event) for _ in range(3)]
    assert outcomes == ["queued", "duplicate", "duplicate"]
    requests = [SegmentRequest.model_validate_json(m) for m in publisher.on(SETTINGS.segment_topic)]
    assert [r.job_id for r in requests] == [job_id]
    assert jobs.get(job_id).state is State.QUEUED and jobs.get(job_id).request_published


def test_intake_republishes_when_it_crashed_between_queue_and_publish(world):
    jobs, blobs, publisher = world
    job_id = new_job(jobs)
    event = finalize(blobs, job_id, jpeg_bytes())
    jobs.update(job_id, lambda j: j.move(State.QUEUED, T0, upload_generation=event.generation))  # no publish
    assert run_intake(world, event) == "republished"
    assert run_intake(world, event) == "duplicate"
    assert len(publisher.on(SETTINGS.segment_topic)) == 1


def test_intake_rejects_garbage_without_waking_the_gpu(world):
    jobs, blobs, publisher = world
    job_id = new_job(jobs)
    assert run_intake(world, finalize(blobs, job_id, b"not an image at all")) == "rejected:not_an_image"
    job = jobs.get(job_id)
    assert job.state is State.REJECTED and job.reason == "not_an_image"
    assert publisher.messages == []


def test_intake_ignores_other_buckets_prefixes_and_unknown_jobs(world):
    jobs, blobs, publisher = world
    other = GcsObjectEvent(event_type="OBJECT_FINALIZE", bucket="elsewhere", name="uploads/x", generation="1")
    results = GcsObjectEvent(event_type="OBJECT_FINALIZE", bucket=SETTINGS.uploads_bucket, name="results/x",
                             generation="1")
    orphan = finalize(blobs, "f" * 32, jpeg_bytes())
    assert [run_intake(world, e) for e in (other, results, orphan)] == ["ignored", "ignored", "orphan"]
    assert publisher.messages == []


def test_intake_skips_an_overwritten_generation(world):
    jobs, blobs, _ = world
    job_id = new_job(jobs)
    first = finalize(blobs, job_id, jpeg_bytes())
    finalize(blobs, job_id, jpeg_bytes())  # uploaded again with the same signed URL
    assert run_intake(world, first) == "stale_generation"


def event(job_id, kind, at, **fields):
    return JobEvent(job_id=job_id, kind=kind, at=at, **fields)


def test_status_tracking_is_monotonic_whatever_the_order(world):
    jobs, blobs, _ = world
    job_id = new_job(jobs)
    jobs.update(job_id, lambda j: j.move(State.QUEUED, T0))
    done = event(job_id, "succeeded", T0 + timedelta(seconds=3), result_object="results/a.png",
                 timings={"inference": 0.4})
    started = event(job_id, "started", T0 + timedelta(seconds=1))
    failed = event(job_id, "failed", T0 + timedelta(seconds=9), reason="bad_image")
    outcomes = [job_events.handle(e, jobs=jobs) for e in (done, started, done, failed)]
    assert outcomes == ["applied", "no_change", "no_change", "no_change"]
    job = jobs.get(job_id)
    assert job.state is State.DONE and job.result_object == "results/a.png" and job.reason == ""
    assert job.timings == {"inference": 0.4}


def test_status_tracking_records_failure_reason_and_attempts(world):
    jobs, _, _ = world
    job_id = new_job(jobs)
    job_events.handle(event(job_id, "started", T0, attempt=1), jobs=jobs)
    job_events.handle(event(job_id, "started", T0 + timedelta(seconds=5), attempt=2), jobs=jobs)
    job_events.handle(event(job_id, "failed", T0 + timedelta(seconds=6), attempt=2, reason="bad_image"), jobs=jobs)
    job = jobs.get(job_id)
    assert (job.state, job.reason, job.attempts) == (State.FAILED, "bad_image", 2)
    assert job_events.handle(event("0" * 32, "started", T0), jobs=jobs) == "unknown_job"


def dead_letter_handle(message, *, jobs, leases=None):
    return dead_letter.handle(message, jobs=jobs, leases=leases or FakeLeases())


def pubsub(payload, **attributes) -> PubSubMessage:
    return PubSubMessage(data=base64.b64encode(json.dumps(payload).encode()).decode(), attributes=attributes)


def test_dead_letter_fails_the_job_from_either_kind_of_message(world):
    jobs, _, _ = world
    segment_job, upload_job = new_job(jobs), new_job(jobs)
    request = SegmentRequest(job_id=segment_job, bucket="b", object="o", generation="1",
                             content_type="image/jpeg").model_dump(mode="json")
    assert dead_letter_handle(pubsub(request, CloudPubSubDeadLetterSourceDeliveryCount="5"), jobs=jobs) == "failed"
    notification = pubsub({"name": f"uploads/{upload_job}"}, eventType="OBJECT_FINALIZE", bucketId="b",
                          objectId=f"uploads/{upload_job}", objectGeneration="3")
    assert dead_letter_handle(notification, jobs=jobs) == "failed"
    for job_id in (segment_job, upload_job):
        assert (jobs.get(job_id).state, jobs.get(job_id).reason) == (State.FAILED, "dead_letter")
    assert dead_letter_handle(pubsub(request), jobs=jobs) == "no_change"
    assert dead_letter_handle(pubsub("garbage"), jobs=jobs) == "no_job"


def test_dead_letter_never_undoes_a_finished_job(world):
    jobs, _, _ = world
    job_id = new_job(jobs)
    jobs.update(job_id, lambda j: j.move(State.DONE, T0, result_object="results/x.png"))
    request = SegmentRequest(job_id=job_id, bucket="b", object="o", generation="1", content_type="image/jpeg")
    assert dead_letter_handle(pubsub(request.model_dump(mode="json")), jobs=jobs) == "no_change"
    assert jobs.get(job_id).state is State.DONE


def test_a_success_after_a_dead_letter_wins_and_the_job_ends_done(world):
    """The documented rule (docs/failures.md): a dead letter means "gave up waiting"; a cut-out that
    exists after all wins. A real failure (bad_image) stays final."""
    jobs, _, _ = world
    slow_job, bad_job = new_job(jobs), new_job(jobs)
    job_events.handle(event(slow_job, "started", T0, attempt=1), jobs=jobs)
    request = SegmentRequest(job_id=slow_job, bucket="b", object="o", generation="1", content_type="image/jpeg")
    assert dead_letter_handle(pubsub(request.model_dump(mode="json"), CloudPubSubDeadLetterSourceSubscription=
                                     "projects/p/subscriptions/segment"), jobs=jobs) == "failed"
    late = event(slow_job, "succeeded", T0 + timedelta(seconds=400), attempt=1, result_object="results/s.png")
    assert job_events.handle(late, jobs=jobs) == "applied"
    job = jobs.get(slow_job)
    assert (job.state, job.reason, job.result_object) == (State.DONE, "", "results/s.png")
    assert "failed" not in job.timestamps and "dead-lettered" in job.detail
    assert job_events.handle(late, jobs=jobs) == "no_change"  # repeated: still one transition
    assert dead_letter_handle(pubsub(request.model_dump(mode="json")), jobs=jobs) == "no_change"  # and stays done

    job_events.handle(event(bad_job, "failed", T0, reason="bad_image"), jobs=jobs)
    assert job_events.handle(event(bad_job, "succeeded", T0, result_object="results/b.png"), jobs=jobs) == "no_change"
    assert jobs.get(bad_job).state is State.FAILED


def test_a_dead_letter_of_a_job_in_progress_under_a_live_lease_leaves_it_to_its_worker(world):
    jobs, _, _ = world
    job_id, leases = new_job(jobs), FakeLeases()
    job_events.handle(event(job_id, "started", T0), jobs=jobs)
    request = SegmentRequest(job_id=job_id, bucket="b", object="o", generation="1", content_type="image/jpeg")
    message = pubsub(request.model_dump(mode="json"), CloudPubSubDeadLetterSourceDeliveryCount="5")
    leases.acquire(job_id, "working-instance", 60)
    assert dead_letter_handle(message, jobs=jobs, leases=leases) == "in_progress"
    assert jobs.get(job_id).state is State.PROCESSING
    leases.renew(job_id, "working-instance", -1)  # its worker died: the lease ran out
    assert dead_letter_handle(message, jobs=jobs, leases=leases) == "failed"


def job_event_message(job_id, kind, **attributes) -> PubSubMessage:
    """A job event as the GPU service publishes it (attributes job_id and kind), dead-lettered."""
    payload = JobEvent(job_id=job_id, kind=kind, at=T0, result_object=f"results/{job_id}.png"
                       if kind == "succeeded" else "").model_dump(mode="json")
    return pubsub(payload, job_id=job_id, kind=kind, CloudPubSubDeadLetterSourceDeliveryCount="10", **attributes)


@pytest.mark.parametrize("source", [{"CloudPubSubDeadLetterSourceSubscription": "projects/p/subscriptions/job-events"},
                                    {"CloudPubSubDeadLetterSourceSubscription": "job-events"},
                                    {}])  # without the attribute: told apart by the GPU service's `kind`
def test_a_dead_lettered_succeeded_event_is_applied_and_never_fails_the_job(world, source):
    jobs, _, _ = world
    job_id = new_job(jobs)
    job_events.handle(event(job_id, "started", T0), jobs=jobs)
    assert dead_letter_handle(job_event_message(job_id, "succeeded", **source), jobs=jobs) == "job_event_applied"
    assert (jobs.get(job_id).state, jobs.get(job_id).reason) == (State.DONE, "")


def test_a_dead_lettered_job_event_never_fails_a_done_job(world):
    jobs, _, _ = world
    job_id = new_job(jobs)
    jobs.update(job_id, lambda j: j.move(State.DONE, T0, result_object=f"results/{job_id}.png"))
    source = {"CloudPubSubDeadLetterSourceSubscription": "projects/p/subscriptions/job-events"}
    for kind in ("started", "succeeded"):
        assert dead_letter_handle(job_event_message(job_id, kind, **source), jobs=jobs) == "job_event_no_change"
    garbage = pubsub("not an event", job_id=job_id, kind="succeeded", **source)
    assert dead_letter_handle(garbage, jobs=jobs) == "unreadable_job_event"
    assert jobs.get(job_id).state is State.DONE


def test_the_job_events_subscription_is_the_one_dead_letter_knows():
    import topology as topo

    topology = topo.load()
    names = {s["name"] for s in topology["subscriptions"] if s["topic"] == "job-events"}
    assert names == {dead_letter.JOB_EVENTS_SUBSCRIPTION}


def test_job_status_hides_unknown_malformed_and_others_jobs_and_signs_results(world):
    jobs, blobs, _ = world
    job_id = new_job(jobs)
    owner = "owner-session"
    jobs.update(job_id, lambda j: setattr(j, "session_id", owner) or True)
    assert job_status.handle("../../etc", owner, jobs=jobs, blobs=blobs, settings=SETTINGS) is None
    assert job_status.handle("0" * 32, owner, jobs=jobs, blobs=blobs, settings=SETTINGS) is None
    assert job_status.handle(job_id, owner, jobs=jobs, blobs=blobs, settings=SETTINGS)["result_url"] is None
    for caller in ("another-session", "", None, owner + "x"):
        assert job_status.handle(job_id, caller, jobs=jobs, blobs=blobs, settings=SETTINGS) is None
    jobs.update(job_id, lambda j: j.move(State.DONE, T0, result_object=f"results/{job_id}.png"))
    body = job_status.handle(job_id, owner, jobs=jobs, blobs=blobs, settings=SETTINGS)
    assert body["state"] == "done" and f"results/{job_id}.png" in body["result_url"]
