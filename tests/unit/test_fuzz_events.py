"""Fuzz every event handler's payload (hypothesis): intake, job_events and
dead_letter through their functions-framework targets, and the GPU service's
push route. Whatever arrives is answered 2xx: a bad message is acknowledged,
because Pub/Sub redelivers on every non-2xx (4xx included) and retrying it could
never help. (A 5xx is kept for transient failures, which these fakes never raise.)

The functions get their messages as Eventarc delivers them in production: a
binary-mode CloudEvent whose data is the Pub/Sub push body
(https://cloud.google.com/eventarc/standard/docs/event-format). The envelope
inside is what is fuzzed."""

import base64
import io
import json
import sys

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from PIL import Image

from domain.jobs import Job, State
from settings import Settings
from tests.fakes_web import FakeAdapters, function_client

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
JOB = "a" * 32
SETTINGS = Settings()


def mostly(common: list, rare):
    return st.sampled_from(range(10)).flatmap(lambda i: rare if i == 9 else st.sampled_from(common))


def png(width=8, height=8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(out, "PNG")
    return out.getvalue()


scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=10)
stamps = mostly(["2026-11-23T10:00:00Z", "2026-11-23T10:00:00.123456+00:00"], st.text(max_size=30) | json_values)
# What a photo upload may hold: a good image, one cut short, random bytes, nothing.
upload_bytes = mostly([png(), png()[:40], b"", b"\xff\xd8\xff" + b"\0" * 20, b"GIF89a"], st.binary(max_size=300))

storage_resources = st.fixed_dictionaries({}, optional={
    "bucket": mostly([SETTINGS.uploads_bucket, "other"], json_values),
    "name": mostly([f"uploads/{JOB}", "uploads/", "results/x", "uploads/" + "b" * 32], json_values),
    "generation": mostly(["1", "2"], json_values),
    "contentType": mostly(["image/png", "image/jpeg"], json_values),
    "size": mostly(["100", 100, "-1"], json_values),
})
attribute_values = {
    "eventType": mostly(["OBJECT_FINALIZE"] * 3 + ["OBJECT_DELETE"], st.text(max_size=20)),
    "bucketId": mostly([SETTINGS.uploads_bucket] * 3 + ["other"], st.text(max_size=20)),
    "objectId": mostly([f"uploads/{JOB}"] * 3 + ["uploads/" + "b" * 32, "uploads/../x"], st.text(max_size=40)),
    "objectGeneration": mostly(["1", "1", "2", "0"], st.text(max_size=10)),
    "payloadFormat": st.just("JSON_API_V1"),
}
# Mostly complete (so the fuzz reaches the byte checks), sometimes with keys missing.
storage_attributes = st.sampled_from(range(4)).flatmap(
    lambda i: st.fixed_dictionaries(attribute_values) if i < 3 else st.fixed_dictionaries({}, optional=attribute_values))
job_events = st.fixed_dictionaries({}, optional={
    "job_id": mostly([JOB, "b" * 32, ""], json_values),
    "kind": mostly(["started", "succeeded", "failed", "exploded"], json_values),
    "at": stamps,
    "attempt": mostly([1, 2, 0, -1], json_values),
    "result_object": mostly([f"results/{JOB}.png", ""], json_values),
    "reason": mostly(["bad_image", ""], json_values),
    "detail": st.text(max_size=50),
    "timings": mostly([{"inference": 0.3}, {}], json_values),
})
segment_requests = st.fixed_dictionaries({}, optional={
    "job_id": mostly([JOB], json_values), "bucket": mostly([SETTINGS.uploads_bucket], json_values),
    "object": mostly([f"uploads/{JOB}"], json_values), "generation": mostly(["1"], json_values),
    "content_type": mostly(["image/png"], json_values), "output_format": mostly(["png", "gif"], json_values),
})


def data_field(payloads):
    """A message's data: base64 of JSON (mostly), of random bytes, or not base64 at all."""
    return st.sampled_from(range(10)).flatmap(
        lambda i: payloads.map(lambda p: base64.b64encode(json.dumps(p).encode()).decode()) if i < 7
        else st.binary(max_size=200).map(lambda b: base64.b64encode(b).decode()) if i < 9
        else st.text(max_size=40))


def envelopes(payloads, attributes):
    message = st.fixed_dictionaries({"data": data_field(payloads), "messageId": st.just("1")},
                                    optional={"attributes": attributes, "publishTime": stamps})
    good = st.fixed_dictionaries({"subscription": st.just("projects/demo-proj/subscriptions/fuzz"),
                                  "message": message}, optional={"deliveryAttempt": mostly([1, 5], json_values)})
    # Sometimes an object that is no envelope at all.
    return mostly([0] * 9, st.just(1)).flatmap(
        lambda bad: st.dictionaries(st.text(max_size=12), json_values, max_size=4) if bad else good)


holder = {}
# Eventarc's Pub/Sub trigger: the context attributes as ce- headers, the push body as data.
EVENTARC_HEADERS = {"Content-Type": "application/json", "ce-specversion": "1.0", "ce-id": "fuzz-1",
                    "ce-source": "//pubsub.googleapis.com/projects/demo-proj/topics/fuzz",
                    "ce-type": "google.cloud.pubsub.topic.v1.messagePublished"}


def fresh(upload: bytes = b""):
    fakes = FakeAdapters(settings=SETTINGS)
    fakes.jobs.create(Job(job_id=JOB, content_type="image/png", upload_object=f"uploads/{JOB}"))
    fakes.jobs.create(Job(job_id="b" * 32, state=State.PROCESSING, content_type="image/jpeg"))
    fakes.blobs.put(SETTINGS.uploads_bucket, f"uploads/{JOB}", upload, "image/png")  # generation 1
    return fakes


@pytest.fixture(scope="module")
def push():
    clients = {}
    for target in ("intake", "job_events", "dead_letter"):
        holder[target] = fresh()
        clients[target] = function_client(target, holder[target])
        clients[target].main_module.adapters = lambda t=target: holder[t]

    def send(target, body, upload=b"", fuzzing=True):
        holder[target] = fresh(upload)
        response = clients[target].post("/", data=json.dumps(body), headers=EVENTARC_HEADERS)
        if fuzzing:  # hypothesis's statistics, shown with --hypothesis-show-statistics
            event(f"{target} HTTP {response.status_code}")
        return response

    return send


def assert_acknowledged(response):
    # Handled, or logged and dropped: a 2xx. A 4xx or 5xx would be redelivered until dead-lettered.
    assert 200 <= response.status_code < 300, (response.status_code, response.get_data(as_text=True)[:500])


@FUZZ
@given(body=envelopes(storage_resources, storage_attributes), upload=upload_bytes)
def test_intake_acknowledges_every_notification(push, body, upload):
    assert_acknowledged(push("intake", body, upload))
    job = holder["intake"].jobs.get(JOB)
    event(f"intake job {job.state.value}")
    sent = holder["intake"].publisher.messages
    if sent:  # only a real image is ever sent on to the GPU service
        assert upload == png() and job.state is State.QUEUED


@FUZZ
@given(body=envelopes(job_events, st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=2)))
def test_job_events_acknowledges_every_event(push, body):
    assert_acknowledged(push("job_events", body))


@FUZZ
@given(body=envelopes(segment_requests | storage_resources,
                      storage_attributes | st.fixed_dictionaries({"CloudPubSubDeadLetterSourceDeliveryCount":
                                                                  st.text(max_size=5)})))
def test_dead_letter_acknowledges_every_message(push, body):
    assert_acknowledged(push("dead_letter", body))


@pytest.fixture(scope="module")
def gpu():
    from fastapi.testclient import TestClient

    from gpu_service.app import app

    return TestClient(app)  # not entered: no model load, so every good request finds it "not ready"


@FUZZ
@given(body=envelopes(segment_requests, st.just({})))
def test_gpu_push_route_acks_bad_messages_and_defers_good_ones(gpu, body):
    response = gpu.post("/pubsub/segment", content=json.dumps(body))
    event(f"gpu HTTP {response.status_code}")
    # 204: a bad message acknowledged. 503 + Retry-After: a good one, while the model loads.
    assert response.status_code in (204, 503)
    if response.status_code == 503:
        assert response.headers["Retry-After"]


def test_a_json_string_as_event_data_is_acknowledged(push):
    assert_acknowledged(push("intake", "just a string", fuzzing=False))


@pytest.mark.parametrize("target", ["intake", "job_events", "dead_letter"])
def test_the_local_stacks_raw_push_is_acknowledged(target):
    """Locally the Pub/Sub emulator pushes its own envelope (no ce- headers) and
    functions-framework converts it; only a malformed envelope, which the emulator never
    sends, is refused (400) by functions-framework before our code runs."""
    holder[target] = fresh()
    client = function_client(target, holder[target])
    client.main_module.adapters = lambda: holder[target]
    body = {"subscription": "projects/demo-proj/subscriptions/local", "message": {
        "data": base64.b64encode(json.dumps({"job_id": "c" * 32}).encode()).decode(), "messageId": "7",
        "attributes": {"eventType": "OBJECT_FINALIZE", "bucketId": "other", "objectId": "uploads/x",
                       "objectGeneration": "1", "payloadFormat": "JSON_API_V1"}}}
    response = client.post("/", data=json.dumps(body), headers={"Content-Type": "application/json"})
    assert_acknowledged(response)
