"""Crash and retry drills on the local stack: a killed GPU instance, a message that never succeeds."""

import pytest

from tests.e2e.helpers import photo_bytes, wait_for

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
