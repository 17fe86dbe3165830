"""The GPU service in-process (ASGI), with in-memory adapters: batching under a burst of
pushes, load shedding with a retryable status, probes, warm-up and metrics."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import time
from types import SimpleNamespace

import httpx
import numpy as np
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from events.schemas import SegmentRequest
from gpu_service.app import create_app
from gpu_service.engines import Engine, new_engine
from gpu_service.runtime import Runtime
from settings import Settings
from tests.fakes import FakeBlobs, FakeLeases, FakePublisher
from tests.samples import MODELS


class GatedEngine(Engine):
    """A stand-in model whose forward pass waits for a gate: lets a test hold requests in the house."""

    name = "gated"

    def __init__(self, fail_with: BaseException | None = None):
        self.gate = threading.Event()
        self.gate.set()
        self.fail_with = fail_with
        self.forward_sizes: list[list[tuple[int, int]]] = []

    def prepare(self, image):
        return image.size

    def forward(self, batch):
        if self.fail_with is not None:
            raise self.fail_with
        self.gate.wait(30)
        self.forward_sizes.append(list(batch))
        return batch

    def finish(self, prediction, size):
        mask = np.zeros((size[1], size[0]), np.float32)
        mask[:, : size[0] // 2] = 1.0
        return mask


class Service:
    def __init__(self, engine_factory, **overrides):
        self.blobs, self.leases, self.publisher = FakeBlobs(), FakeLeases(), FakePublisher()
        self.settings = Settings(model_dir=str(MODELS), **overrides)
        ports = SimpleNamespace(blobs=self.blobs, leases=self.leases, publisher=self.publisher)
        self.runtime = Runtime(self.settings, adapters=lambda: ports, engine_factory=engine_factory)
        self.app = create_app(self.runtime, load_on_start=False)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://gpu", timeout=120)

    def upload(self, job_id: str, data: bytes) -> dict:
        generation = self.blobs.put(self.settings.uploads_bucket, f"uploads/{job_id}", data, "image/jpeg")
        request = SegmentRequest(job_id=job_id, bucket=self.settings.uploads_bucket, object=f"uploads/{job_id}",
                                 generation=generation, content_type="image/jpeg")
        return {"subscription": "projects/demo-proj/subscriptions/segment",
                "message": {"data": base64.b64encode(request.model_dump_json().encode()).decode(), "messageId": job_id}}

    def events(self, kind: str) -> list[dict]:
        return [json.loads(data) for _, data, attrs in self.publisher.messages if attrs.get("kind") == kind]


def jpeg(seed: int = 0, size=(320, 240)) -> bytes:
    from skimage import data as skdata

    photo = Image.fromarray(skdata.chelsea()).resize(size).rotate(seed * 7)
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=90)
    return out.getvalue()


def scrape(text: str) -> dict[tuple[str, tuple], float]:
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


async def metrics(client) -> dict:
    response = await client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return scrape(response.text)


def delta(after, before, name, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_a_burst_of_pushes_is_batched_and_every_job_finishes():
    service = Service(lambda: new_engine("u2netp", model_dir=MODELS), batch_max_size=4, batch_max_wait_ms=20,
                      max_pending=64)
    service.runtime.load()
    jobs = {f"burst-{i}": service.upload(f"burst-{i}", jpeg(i)) for i in range(12)}

    async def burst():
        async with service.client() as client:
            before = await metrics(client)
            answers = await asyncio.gather(*(client.post("/pubsub/segment", json=body) for body in jobs.values()))
            return before, answers, await metrics(client)

    before, answers, after = asyncio.run(burst())
    assert [a.status_code for a in answers] == [204] * 12
    assert delta(after, before, "segment_batch_size_sum") == 12
    batches = delta(after, before, "segment_batch_size_count")
    assert batches < 12, "no two pushes shared a forward pass"
    assert delta(after, before, "segment_requests_total", outcome="done") == 12
    for stage in ("download", "decode", "preprocess", "queue", "inference", "postprocess", "segment", "encode",
                  "upload"):
        assert delta(after, before, "segment_stage_seconds_count", stage=stage) >= 12, stage
    assert after[("process_resident_memory_bytes", ())] > 0
    assert after[("model_load_seconds", ())] > 0
    for job_id in jobs:
        result, content_type, _ = service.blobs.objects[(service.settings.results_bucket, f"results/{job_id}.png")]
        alpha = np.asarray(Image.open(io.BytesIO(result)).getchannel("A"))
        assert content_type == "image/png" and alpha.min() == 0 and alpha.max() == 255
    assert sorted(e["job_id"] for e in service.events("succeeded")) == sorted(jobs)


def test_a_full_house_sheds_with_a_retryable_status_and_no_push_is_lost():
    engine = GatedEngine()
    engine.gate.clear()
    service = Service(lambda: engine, max_pending=2, batch_max_size=8, shed_retry_after_seconds=7)
    service.runtime.load()
    jobs = {f"shed-{i}": service.upload(f"shed-{i}", jpeg(i, (64, 48))) for i in range(6)}
    first, rest = list(jobs)[:2], list(jobs)[2:]

    async def scenario():
        async with service.client() as client:
            before = await metrics(client)
            admitted = [asyncio.create_task(client.post("/pubsub/segment", json=jobs[j])) for j in first]
            deadline = time.monotonic() + 10
            while service.runtime._pending < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            shed = await asyncio.gather(*(client.post("/pubsub/segment", json=jobs[j]) for j in rest))
            engine.gate.set()
            done = await asyncio.gather(*admitted)
            # Pub/Sub redelivers what was not acknowledged, until it is (a few rounds here).
            pending, rounds = list(rest), 0
            while pending and rounds < 10:
                answers = await asyncio.gather(*(client.post("/pubsub/segment", json=jobs[j]) for j in pending))
                assert {a.status_code for a in answers} <= {204, 429}
                pending = [j for j, a in zip(pending, answers, strict=True) if a.status_code != 204]
                rounds += 1
            return before, shed, done, pending, rounds, await metrics(client)

    before, shed, done, never_done, rounds, after = asyncio.run(scenario())
    assert [r.status_code for r in shed] == [429] * 4
    assert all(r.headers["Retry-After"] == "7" for r in shed)
    assert [r.status_code for r in done] == [204] * 2
    assert never_done == [], f"still shed after {rounds} redeliveries"
    assert delta(after, before, "segment_requests_total", outcome="shed") >= 4
    assert delta(after, before, "segment_requests_total", outcome="done") == 6
    assert all(service.blobs.exists(service.settings.results_bucket, f"results/{j}.png") for j in jobs)
    assert sorted(e["job_id"] for e in service.events("succeeded")) == sorted(jobs)
    assert not service.events("failed")


def test_probes_model_info_and_warmup_that_is_safe_under_concurrent_calls():
    engine = GatedEngine()
    service = Service(lambda: engine)

    async def scenario():
        async with service.client() as client:
            not_ready = [(await client.get(p)).status_code for p in ("/ready", "/model-info")]
            live = (await client.get("/healthz")).status_code
            push = await client.post("/pubsub/segment", json=service.upload("early", jpeg()))
            warmups = await asyncio.gather(*(client.post("/warmup") for _ in range(5)))
            ready = await client.get("/ready")
            info = await client.get("/model-info")
            return not_ready, live, push, warmups, ready, info

    not_ready, live, push, warmups, ready, info = asyncio.run(scenario())
    assert not_ready == [503, 503] and live == 200
    assert push.status_code == 503 and "Retry-After" in push.headers
    assert [w.status_code for w in warmups] == [200] * 5
    assert sum(1 for sizes in engine.forward_sizes for s in sizes if s == (64, 64)) == 1  # one warm-up pass
    assert ready.status_code == 200
    assert info.json()["engine"] == "gated" and info.json()["batch_max_size"] == 8 and info.json()["warmed"]


def test_bad_pushes_are_acknowledged_and_device_oom_is_transient():
    service = Service(lambda: GatedEngine(fail_with=MemoryError("CUDA out of memory")))
    service.runtime.load()

    async def scenario():
        async with service.client() as client:
            malformed = await client.post("/pubsub/segment", content=b"{not json")
            not_an_image = await client.post("/pubsub/segment", json=service.upload("text", b"hello, not a photo"))
            oom = await client.post("/pubsub/segment", json=service.upload("oom", jpeg()))
            return malformed, not_an_image, oom

    malformed, not_an_image, oom = asyncio.run(scenario())
    assert malformed.status_code == 204 and not_an_image.status_code == 204
    assert [(e["job_id"], e["reason"]) for e in service.events("failed")] == [("text", "bad_image")]
    assert oom.status_code == 500  # Pub/Sub retries later; the lease is released for it
    assert service.leases.acquire("oom", "next-attempt", 60) is not None


def test_a_push_past_its_deadline_is_answered_retry_later_and_writes_nothing():
    engine = GatedEngine()
    service = Service(lambda: engine, job_deadline_seconds=0.3, lease_seconds=1)
    service.runtime.load()
    engine.gate.clear()  # the forward pass hangs past the deadline

    async def scenario():
        async with service.client() as client:
            before = await metrics(client)
            push = await client.post("/pubsub/segment", json=service.upload("slow", jpeg()))
            return push, delta(await metrics(client), before, "segment_requests_total", outcome="abandoned")

    try:
        push, abandoned = asyncio.run(scenario())
    finally:
        engine.gate.set()
    assert push.status_code == 503 and "Retry-After" in push.headers and abandoned == 1
    assert service.events("succeeded") == [] and service.events("failed") == []
    assert not service.blobs.exists(service.settings.results_bucket, "results/slow.png")
    assert service.leases.acquire("slow", "the-redelivery", 60) is not None  # released for it


class ThreadRecordingEngine(GatedEngine):
    """Records which thread ran each forward pass."""

    def __init__(self):
        super().__init__()
        self.threads: list[str] = []

    def forward(self, batch):
        self.threads.append(threading.current_thread().name)
        return super().forward(batch)


def test_the_smoke_route_goes_through_the_batcher_like_every_job():
    engine = ThreadRecordingEngine()
    service = Service(lambda: engine)
    service.runtime.load()

    async def run():
        async with service.client() as client:
            return await client.post("/segment", content=jpeg(size=(64, 48)))

    response = asyncio.run(run())
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(response.content)).size == (64, 48)
    assert engine.threads == ["batcher"]  # the model's one thread, never the request's


def test_the_app_builds_its_runtime_at_start_up_not_at_import():
    import importlib

    import gpu_service.app as module

    module = importlib.reload(module)
    assert module.app.state.runtime is None  # importing built nothing

    async def run():
        async with module.app.router.lifespan_context(module.app):
            return module.app.state.runtime

    runtime = asyncio.run(_without_loading(run))
    assert isinstance(runtime, Runtime)


async def _without_loading(run):
    # The lifespan starts the model loader thread; point it at nothing heavier than a no-op.
    original = Runtime.load_or_exit
    Runtime.load_or_exit = lambda self: None
    try:
        return await run()
    finally:
        Runtime.load_or_exit = original
