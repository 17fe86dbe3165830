"""Crash and retry drills on the local stack: a killed GPU instance, a message that never succeeds."""

import uuid

import pytest
import requests

from tests.e2e.helpers import SegmentTap, photo_bytes, wait_for

pytestmark = pytest.mark.e2e


def test_a_job_survives_the_gpu_service_being_killed_mid_job(stack, shop):
    # Big enough that the job spends seconds in `processing` on a CPU.
    job_id = shop.upload(photo_bytes("JPEG", size=(4000, 3000)), "image/jpeg")
    wait_for(lambda: shop.status(job_id)["state"] == "processing", 60, every=0.05, message="processing")
    stack.restart("gpu", kill=True)  # SIGKILL: no cleanup, its lease is left to expire
    status = shop.follow(job_id, timeout=120)
    assert status["state"] == "done", status
    assert status["attempts"] >= 2
    assert shop.status(job_id)["result_url"]


def test_a_message_that_always_fails_transiently_ends_dead_lettered(stack, shop):
    # The GPU service is down for the whole retry window: every push fails and Pub/Sub gives up.
    # (A live lease of another worker would not do: its dead letter leaves the job to that
    # worker, docs/failures.md, since a renewed lease means someone is at it.)
    gpu = stack.children["gpu"]
    gpu.stop()
    try:
        job_id = shop.upload(photo_bytes(), "image/jpeg")
        status = shop.follow(job_id, timeout=90)
    finally:
        gpu.start()
        gpu.wait_ready(120)
    assert (status["state"], status["reason"]) == ("failed", "dead_letter"), status
    assert "5 delivery attempts" in status["detail"]


def test_hostile_uploads_end_with_their_reason_or_done_and_a_photo_beside_them_finishes(stack, shop):
    """The corpus of tests/hostile.py through the whole stack: each ends with a final status and its
    own reason, or, decoded within the GPU decode's budget, `done` (`failed: no_subject` where the
    frame is blank), and a shopper's photo still finishes."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from tests import hostile

    expected = {
        # Decoded within budget; a blank frame and a plain gradient then hold no subject (domain/subject.py).
        "blank 8000x8000 lossless webp": ("failed", "no_subject"), "48 MP lossy webp": ("done", ""),
        "64 MP png": ("failed", "no_subject"),
        "animated webp, 500 frames": ("rejected", "animated_image"),
        "apng, 300 frames": ("rejected", "animated_image"),
        "progressive jpeg, 300 scans": ("rejected", "too_many_scans"),
        "progressive jpeg, 3000 scans": ("rejected", "too_many_scans"),
        "gzip-encoded jpeg": ("rejected", "content_encoded"),
    }
    tap = SegmentTap(stack, f"tap-{uuid.uuid4().hex[:8]}")
    jobs = {name: shop.upload(maker(), declared) for name, (maker, declared) in hostile.CORPUS.items()}
    # The signed PUT binds Content-Type and the length range, not Content-Encoding: a client can add
    # `Content-Encoding: gzip`, the object is stored so, and a plain download would decompress it.
    data, headers = hostile.gzip_encoded_jpeg()
    grant = shop.grant("image/jpeg", len(data))
    requests.put(grant["upload_url"], data=data, headers={**grant["headers"], **headers},
                 timeout=30).raise_for_status()
    with stack.client_env():
        client = storage.Client(project=stack.project, credentials=AnonymousCredentials())
    stored = client.bucket(stack.env["UPLOADS_BUCKET"]).get_blob(f"uploads/{grant['job_id']}")
    assert stored.content_encoding == "gzip"
    jobs["gzip-encoded jpeg"] = grant["job_id"]
    good = shop.upload(photo_bytes(), "image/jpeg")

    results = {name: shop.follow(job_id, timeout=240, every=1.0) for name, job_id in jobs.items()}
    assert {name: (s["state"], s["reason"] or "") for name, s in results.items()} == expected
    assert shop.follow(good, timeout=120)["state"] == "done"
    sent_to_gpu = set(wait_for(lambda: tap.job_ids() or None, 10, message="the segment requests"))
    assert good in sent_to_gpu
    assert not {jobs[name] for name, (state, _) in expected.items() if state == "rejected"} & sent_to_gpu
    assert stack.healthy()
