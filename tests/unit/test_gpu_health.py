"""/health of the GPU service (model state and progress, memory, queue, revision) and the
cold-start mark the worker puts on a job that waited for the instance to start."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime, timedelta, timezone

from events.schemas import SegmentRequest
from tests.unit.test_gpu_app import GatedEngine, Service, jpeg


def push(service: Service, job_id: str, queued_at: datetime) -> dict:
    generation = service.blobs.put(service.settings.uploads_bucket, f"uploads/{job_id}", jpeg(), "image/jpeg")
    request = SegmentRequest(job_id=job_id, bucket=service.settings.uploads_bucket, object=f"uploads/{job_id}",
                             generation=generation, content_type="image/jpeg", queued_at=queued_at)
    return {"message": {"data": base64.b64encode(request.model_dump_json().encode()).decode(), "messageId": job_id}}


def test_health_follows_the_load_and_names_the_revision(monkeypatch):
    monkeypatch.setenv("K_REVISION", "pet-cutout-gpu-00007-xyz")
    service = Service(GatedEngine)

    async def scenario():
        async with service.client() as client:
            before = (await client.get("/health")).json()
            service.runtime.warm()
            after = (await client.get("/health")).json()
            probes = [(await client.get(path)).status_code for path in ("/healthz", "/ready")]
            return before, after, probes

    before, after, probes = asyncio.run(scenario())
    assert (before["status"], before["model"]["stage"], before["model"]["progress"]) == ("starting", "not_loaded", 0.0)
    assert (after["status"], after["model"]["stage"], after["model"]["progress"]) == ("ok", "ready", 1.0)
    assert after["model"]["engine"] == "gated" and after["model"]["load_seconds"] >= 0
    assert after["revision"] == "pet-cutout-gpu-00007-xyz"
    assert after["memory"]["rss_bytes"] > 2**20 and after["memory"]["gpu_bytes"] == 0
    assert after["queue"] == {"depth": 0, "in_flight": 0, "max_pending": service.settings.max_pending}
    assert probes == [200, 200]  # the probes are unchanged


def test_a_failed_load_is_reported():
    def broken():
        raise RuntimeError("checkpoint missing")

    service = Service(broken)
    try:
        service.runtime.load()
    except RuntimeError:
        pass
    health = service.runtime.health()
    assert health["status"] == "failed" and health["model"]["error"] == "checkpoint missing"


def test_a_job_queued_before_the_instance_was_ready_is_a_cold_start():
    service = Service(GatedEngine)
    before_start = datetime.now(timezone.utc) - timedelta(seconds=30)
    service.runtime.warm()
    later = datetime.now(timezone.utc) + timedelta(seconds=1)

    async def scenario():
        async with service.client() as client:
            for job_id, queued in (("waited", before_start), ("warm", later)):
                assert (await client.post("/pubsub/segment", json=push(service, job_id, queued))).status_code == 204

    asyncio.run(scenario())
    started = {e["job_id"]: e["cold_start"] for e in service.events("started")}
    assert started == {"waited": True, "warm": False}
