"""A job whose forward pass outlasts its lease, on the local stack: the worker renews the lease,
a duplicate of the job in progress is refused until Pub/Sub dead-letters it, that dead letter
leaves the job to its live worker, and exactly one forward pass runs (docs/failures.md)."""

import json

import pytest
import requests

from local_stack.stack import Stack, leftover_processes
from storefront import Storefront
from tests.e2e.helpers import photo_bytes, wait_for
from validation.client import GpuService

pytestmark = pytest.mark.e2e
# The forward pass outlasts many leases, and the duplicate's five refused deliveries (about 15 s of
# the emulator's backoff from 1 s) with room to spare: its dead letter comes before the success.
LEASE_SECONDS, FORWARD_SECONDS = 3, 25


@pytest.fixture(scope="module")
def slow_stack(tmp_path_factory, emulators):
    env = {"LEASE_SECONDS": str(LEASE_SECONDS), "PUSH_MIN_BACKOFF_SECONDS": "1",
           "SLOW_FORWARD_SECONDS": str(FORWARD_SECONDS)}
    with Stack(workdir=tmp_path_factory.mktemp("slow"), env=env, gpu_app="tests.e2e.slow_gpu_app:app",
               functions=["upload_url", "job_status", "intake", "job_events", "dead_letter"],
               emulators=emulators) as running:
        yield running
    assert leftover_processes(running.run_id) == []


def gpu_metrics(stack) -> dict[str, float]:
    return GpuService(stack.url("gpu")).metrics()


def forward_passes(stack) -> float:
    return gpu_metrics(stack)["segment_batch_size_count"]


def test_a_job_slower_than_its_lease_ends_done_with_exactly_one_forward_pass(slow_stack):
    from google.cloud import firestore, pubsub_v1

    shop = Storefront(slow_stack.url("upload_url"), slow_stack.url("job_status"))
    # Ready means loaded; the warm-up's pass (not slowed: slow_gpu_app) may still be running.
    wait_for(lambda: requests.get(slow_stack.url("gpu") + "/model-info", timeout=10).json().get("warmed"),
             60, message="the warm-up pass")
    before = forward_passes(slow_stack)
    job_id = shop.upload(photo_bytes(), "image/jpeg")
    wait_for(lambda: shop.status(job_id)["state"] == "processing", 60, every=0.05, message="processing")
    with slow_stack.client_env():
        job = firestore.Client(project=slow_stack.project).collection("jobs").document(job_id).get().to_dict()
        publisher = pubsub_v1.PublisherClient()
        # The same request again, as Pub/Sub's at-least-once delivery may bring it while the job runs.
        duplicate = {"job_id": job_id, "bucket": slow_stack.env["UPLOADS_BUCKET"], "object": job["upload_object"],
                     "generation": job["upload_generation"], "content_type": job["content_type"]}
        publisher.publish(publisher.topic_path(slow_stack.project, "segment-requests"),
                          json.dumps(duplicate).encode(), job_id=job_id).result(30)

    seen = []

    def finished():
        status = shop.status(job_id)
        seen.append((status["state"], status["reason"]))
        return status["state"] == "done" and status

    status = wait_for(finished, FORWARD_SECONDS * 3, every=0.25, message="done")
    # Count once every push has been answered (a second pass, had one started, would still be running).
    wait_for(lambda: gpu_metrics(slow_stack)["segment_in_flight"] == 0, FORWARD_SECONDS * 2, message="idle")
    metrics = gpu_metrics(slow_stack)
    assert forward_passes(slow_stack) - before == 1
    assert metrics["segment_requests_total{outcome=busy}"] == 5  # every delivery of the duplicate refused
    assert metrics["segment_requests_total{outcome=done}"] == 1
    dead_letters = (slow_stack.workdir / "logs" / "fn-dead_letter.log").read_text()
    assert "job in progress under a live lease" in dead_letters  # the duplicate's dead letter came ...
    assert all(state != "failed" for state, _ in seen)  # ... and never failed the job meanwhile
    assert (status["reason"], status["attempts"]) == ("", 1) and status["result_url"]
    assert status["timings"]["segment"] >= FORWARD_SECONDS > LEASE_SECONDS
