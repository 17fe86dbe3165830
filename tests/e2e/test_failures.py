"""Crash and retry drills on the local stack: a killed GPU instance, a message that never succeeds."""

from datetime import datetime, timedelta, timezone

import pytest
import requests

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
    from google.cloud import firestore

    photo = photo_bytes()
    grant = shop.http.post(shop.upload_url_endpoint, json={"content_type": "image/jpeg", "size": len(photo)},
                           timeout=30).json()
    job_id = grant["job_id"]
    # Another "instance" holds this job's lease and never lets go: every push is answered 503.
    with stack.client_env():
        db = firestore.Client(project=stack.project)
    db.collection("leases").document(job_id).set(
        {"holder": "stuck-instance", "until": datetime.now(timezone.utc) + timedelta(hours=1), "attempt": 1})
    requests.put(grant["upload_url"], data=photo, headers=grant["headers"], timeout=30).raise_for_status()
    status = shop.follow(job_id, timeout=90)
    assert (status["state"], status["reason"]) == ("failed", "dead_letter"), status
    assert "5 delivery attempts" in status["detail"]
