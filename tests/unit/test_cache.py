"""The mask cache over fakes: its key, the worker's mask and entry, intake's hit/miss routing,
the render function, status tracking and the cost report's counts (domain/cache.py)."""

import base64
import io
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from PIL import Image

import topology
from cutout import imaging, masks
from domain.cache import EngineIdentity, cache_key, entry_for, entry_name, upload_digest
from domain.jobs import Job, State
from domain.outputs import mask_name
from events.schemas import (
    GcsObjectEvent,
    JobEvent,
    PubSubMessage,
    RenderRequest,
    SegmentRequest,
    UploadUrlRequest,
    encode,
)
from functions import cost_report, dead_letter, intake, job_events, render, upload_url
from gpu_service.engines.weights import U2NETP_SHA256
from gpu_service.worker import Outcome, Worker, result_name
from settings import Settings
from tests.fakes import FakeBlobs, FakeJobs, FakeLeases, FakePublisher
from tests.unit.ops_fakes import MemoryOps

SETTINGS = Settings(lease_seconds=60, engine="u2netp")  # the identity U2 below
U2 = EngineIdentity.of("u2netp")
OTHER = EngineIdentity("inspyrenet", "ab" * 32)


def photo(size=(96, 72), seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


def soft_mask(image: Image.Image, timeout: float | None = None) -> np.ndarray:
    """A subject with a soft edge, so the foreground estimate has pixels to change."""
    ramp = np.linspace(-0.5, 1.5, image.width, dtype=np.float32)
    return np.clip(np.broadcast_to(ramp, (image.height, image.width)), 0, 1).copy()


# --- the key ------------------------------------------------------------------------------------

def test_the_key_is_the_bytes_the_engine_and_its_weights():
    data = photo()
    key = cache_key(upload_digest(data), U2)
    assert key == cache_key(upload_digest(bytes(data)), EngineIdentity.of("u2netp", U2NETP_SHA256))
    assert len({key, cache_key(upload_digest(photo(seed=1)), U2), cache_key(upload_digest(data), OTHER),
                cache_key(upload_digest(data), EngineIdentity("u2netp", "cd" * 32))}) == 4
    assert entry_for(data, U2) == entry_name(key) == f"cache/{key}.png"
    assert key not in upload_digest(data) and upload_digest(data) not in key  # the name does not expose the digest


def test_u2netps_pin_is_the_checksum_its_engine_enforces():
    assert U2.checksum == U2NETP_SHA256 and U2.known


def test_the_int8_engines_pin_is_its_recipes_identity():
    from gpu_service.engines.u2netp_int8 import IDENTITY

    pinned = EngineIdentity.of("u2netp-int8")
    assert pinned.checksum == IDENTITY and pinned.known and pinned.checksum != U2.checksum


@pytest.mark.parametrize("identity", [EngineIdentity.of("inspyrenet"), EngineIdentity("u2netp", "not-hex"),
                                      EngineIdentity("", "ab" * 32)])
def test_an_engine_of_unknown_weights_turns_the_cache_off(identity):
    assert not identity.known and entry_for(photo(), identity) is None
    with pytest.raises(ValueError):
        cache_key(upload_digest(photo()), identity)


def test_the_cache_expires_with_the_results():
    buckets = topology.load(env={})["buckets"]
    assert buckets["cache"]["delete_after_days"] == buckets["results"]["delete_after_days"]
    assert "notification" not in buckets["cache"] and "cors" not in buckets["cache"]


# --- the worker keeps the mask, and the entry -----------------------------------------------------

def segment_request(blobs, data: bytes, job_id="a" * 32, output_format="png", effect="none") -> SegmentRequest:
    generation = blobs.put(SETTINGS.uploads_bucket, f"uploads/{job_id}", data, "image/jpeg")
    return SegmentRequest(job_id=job_id, bucket=SETTINGS.uploads_bucket, object=f"uploads/{job_id}",
                          generation=generation, content_type="image/jpeg", output_format=output_format,
                          effect=effect)


def worker(blobs, publisher, identity=U2) -> Worker:
    return Worker(blobs=blobs, leases=FakeLeases(), publisher=publisher, segment=soft_mask, settings=SETTINGS,
                  identity=identity)


def test_the_worker_writes_the_mask_and_the_entry_before_the_result():
    blobs, publisher = FakeBlobs(), FakePublisher()
    data = photo()
    request = segment_request(blobs, data)
    assert worker(blobs, publisher).process(request) is Outcome.DONE
    names = [key for key in blobs.objects if key[0] != SETTINGS.uploads_bucket]
    entry = (SETTINGS.cache_bucket, entry_for(data, U2))
    assert names == [(SETTINGS.results_bucket, mask_name(request.job_id)), entry,
                     (SETTINGS.results_bucket, result_name(request))]
    stored, content_type, _ = blobs.objects[(SETTINGS.results_bucket, mask_name(request.job_id))]
    mask = Image.open(io.BytesIO(stored))
    assert content_type == "image/png" and mask.format == "PNG" and mask.mode == "L" and mask.size == (96, 72)
    assert np.array_equal(np.asarray(mask), masks.quantise(soft_mask(mask)))
    entry_pixels, seconds = masks.decode(blobs.objects[entry][0], SETTINGS.max_pixels)
    assert seconds > 0  # the GPU seconds it cost
    assert np.array_equal(entry_pixels, masks.decode(stored, SETTINGS.max_pixels)[0])


def test_the_entry_is_the_jobs_mask_file_with_the_text_chunk_pil_would_write():
    from PIL import PngImagePlugin

    rng = np.random.default_rng(3)
    for shape in ((1, 1), (72, 96), (480, 640)):
        alpha = rng.integers(0, 256, shape, dtype=np.uint8)
        info = PngImagePlugin.PngInfo()
        info.add_text(masks.GPU_SECONDS_KEY, "1.2346")
        by_pil = io.BytesIO()
        Image.fromarray(alpha, "L").save(by_pil, "PNG", compress_level=1, pnginfo=info)
        entry = masks.with_gpu_seconds(masks.encode(alpha), 1.23456)
        assert entry == by_pil.getvalue() == masks.encode(alpha, gpu_seconds=1.23456)
        pixels, seconds = masks.decode(entry, SETTINGS.max_pixels)
        assert seconds == 1.2346 and np.array_equal(pixels, masks.decode(masks.encode(alpha), 10**7)[0])
    with pytest.raises(ValueError):
        masks.with_gpu_seconds(b"not a png at all, not even close", 1.0)


def test_a_worker_of_unknown_weights_keeps_the_mask_but_makes_no_entry():
    blobs, publisher = FakeBlobs(), FakePublisher()
    request = segment_request(blobs, photo())
    assert worker(blobs, publisher, identity=None).process(request) is Outcome.DONE
    assert (SETTINGS.results_bucket, mask_name(request.job_id)) in blobs.objects
    assert not [k for k in blobs.objects if k[0] == SETTINGS.cache_bucket]


# --- intake routes a hit to render, a miss to the GPU -----------------------------------------------

def new_upload(jobs, blobs, data: bytes, **spec) -> GcsObjectEvent:
    job_id = upload_url.handle(UploadUrlRequest(content_type="image/jpeg", size=1000, **spec), jobs=jobs,
                               blobs=FakeBlobs(), settings=SETTINGS).job_id
    generation = blobs.put(SETTINGS.uploads_bucket, f"uploads/{job_id}", data, "image/jpeg")
    return GcsObjectEvent(event_type="OBJECT_FINALIZE", bucket=SETTINGS.uploads_bucket, name=f"uploads/{job_id}",
                          generation=generation)


def test_intake_sends_a_miss_to_the_gpu_and_the_same_bytes_later_to_render():
    jobs, blobs, publisher = FakeJobs(), FakeBlobs(), FakePublisher()
    data = photo()
    first = new_upload(jobs, blobs, data)
    assert intake.handle(first, jobs=jobs, blobs=blobs, publisher=publisher, settings=SETTINGS) == "queued"
    assert len(publisher.on(SETTINGS.segment_topic)) == 1 and not publisher.on(SETTINGS.render_topic)
    blobs.put(SETTINGS.cache_bucket, entry_for(data, U2), b"a mask", "image/png")  # the first job's worker did this

    second = new_upload(jobs, blobs, data, output_format="webp", effect="blackwhite")
    assert intake.handle(second, jobs=jobs, blobs=blobs, publisher=publisher, settings=SETTINGS) == "queued"
    [sent] = [RenderRequest.model_validate_json(m) for m in publisher.on(SETTINGS.render_topic)]
    job_id = second.name.removeprefix("uploads/")
    assert (sent.job_id, sent.object, sent.generation) == (job_id, second.name, second.generation)
    assert (sent.cache_entry, sent.output_format, sent.effect) == (entry_for(data, U2), "webp", "blackwhite")
    assert len(publisher.on(SETTINGS.segment_topic)) == 1  # the GPU was asked for the first job only
    assert jobs.get(job_id).cache_entry == sent.cache_entry


def test_a_republish_takes_the_route_intake_recorded():
    jobs, blobs, publisher = FakeJobs(), FakeBlobs(), FakePublisher()
    data = photo()
    blobs.put(SETTINGS.cache_bucket, entry_for(data, U2), b"a mask", "image/png")
    event = new_upload(jobs, blobs, data)
    job_id = event.name.removeprefix("uploads/")
    now = datetime.now(timezone.utc)
    jobs.update(job_id, lambda j: j.move(State.QUEUED, now, upload_generation=event.generation,
                                         cache_entry=entry_for(data, U2)))  # queued, then crashed before publishing
    assert intake.handle(event, jobs=jobs, blobs=blobs, publisher=publisher, settings=SETTINGS) == "republished"
    assert len(publisher.on(SETTINGS.render_topic)) == 1 and not publisher.on(SETTINGS.segment_topic)


def test_intake_with_an_engine_of_unknown_weights_never_looks():
    jobs, blobs, publisher = FakeJobs(), FakeBlobs(), FakePublisher()
    data = photo()
    blobs.put(SETTINGS.cache_bucket, entry_for(data, U2), b"a mask", "image/png")
    settings = Settings(engine="inspyrenet")  # no ENGINE_CHECKSUM given
    intake.handle(new_upload(jobs, blobs, data), jobs=jobs, blobs=blobs, publisher=publisher, settings=settings)
    assert len(publisher.on(SETTINGS.segment_topic)) == 1 and not publisher.on(SETTINGS.render_topic)


# --- render: the hit's own cut-out from its own upload ----------------------------------------------

def miss_then_hit(output_format="png", effect="none"):
    """A first job through the worker, then a second upload of the same bytes routed to render."""
    blobs, publisher = FakeBlobs(), FakePublisher()
    data = photo()
    first = segment_request(blobs, data, job_id="1" * 32, output_format=output_format, effect=effect)
    worker(blobs, publisher).process(first)
    second = segment_request(blobs, data, job_id="2" * 32)
    hit = RenderRequest(job_id=second.job_id, bucket=second.bucket, object=second.object,
                        generation=second.generation, cache_entry=entry_for(data, U2),
                        output_format=output_format, effect=effect)
    return blobs, publisher, first, hit


@pytest.mark.parametrize("output_format,effect", [("png", "none"), ("webp", "blackwhite"), ("jpeg", "none")])
def test_a_hit_renders_the_cut_out_the_gpu_would_have_made(output_format, effect):
    blobs, publisher, first, hit = miss_then_hit(output_format, effect)
    before = dict(blobs.objects)
    assert render.handle(hit, blobs=blobs, publisher=publisher, settings=SETTINGS) == "rendered"
    name = result_name(hit.as_segment_request())
    assert name != result_name(first)
    assert blobs.objects[(SETTINGS.results_bucket, name)][0] == blobs.objects[(SETTINGS.results_bucket,
                                                                                result_name(first))][0]
    assert blobs.objects[(SETTINGS.results_bucket, mask_name(hit.job_id))][0] == \
        blobs.objects[(SETTINGS.results_bucket, mask_name(first.job_id))][0]
    assert all(blobs.objects[k] == v for k, v in before.items())  # the first job's objects are untouched
    event = JobEvent.model_validate_json(publisher.on(SETTINGS.job_events_topic)[-1])
    assert (event.job_id, event.kind, event.result_object, event.cache_hit) == (hit.job_id, "succeeded", name, True)
    assert event.gpu_seconds_saved > 0 and {"download", "decode", "render", "upload"} <= set(event.timings)
    assert len(publisher.on(SETTINGS.segment_topic)) == 0  # the worker above was called directly


def test_a_redelivered_hit_reports_again_and_writes_nothing_new():
    blobs, publisher, _, hit = miss_then_hit()
    render.handle(hit, blobs=blobs, publisher=publisher, settings=SETTINGS)
    objects = dict(blobs.objects)
    assert render.handle(hit, blobs=blobs, publisher=publisher, settings=SETTINGS) == "duplicate"
    assert blobs.objects == objects
    assert [JobEvent.model_validate_json(m).cache_hit for m in publisher.on(SETTINGS.job_events_topic)][-2:] == \
        [True, True]


def test_an_expired_or_foreign_entry_sends_the_job_to_the_gpu():
    blobs, publisher, _, hit = miss_then_hit()
    del blobs.objects[(SETTINGS.cache_bucket, hit.cache_entry)]  # the lifecycle rule took it
    assert render.handle(hit, blobs=blobs, publisher=publisher, settings=SETTINGS) == "sent_to_gpu"
    blobs.put(SETTINGS.cache_bucket, hit.cache_entry, masks.encode(np.zeros((10, 10), np.uint8)), "image/png")
    assert render.handle(hit, blobs=blobs, publisher=publisher, settings=SETTINGS) == "sent_to_gpu"  # wrong size
    blobs.objects[(SETTINGS.cache_bucket, hit.cache_entry)] = (b"not a png", "image/png", "1")
    assert render.handle(hit, blobs=blobs, publisher=publisher, settings=SETTINGS) == "sent_to_gpu"
    sent = [SegmentRequest.model_validate_json(m) for m in publisher.on(SETTINGS.segment_topic)]
    assert [s.job_id for s in sent] == [hit.job_id] * 3 and sent[0].generation == hit.generation
    assert (SETTINGS.results_bucket, result_name(hit.as_segment_request())) not in blobs.objects


def _gone(blobs, key):
    del blobs.objects[key]


def _gzipped(blobs, key):
    blobs.encodings[key] = "gzip"


def _oversized(blobs, key):
    _, content_type, generation = blobs.objects[key]
    blobs.objects[key] = (b"\0" * (SETTINGS.max_upload_bytes + 1), content_type, generation)


# The reasons as job records and the KPI report hold them (adapters/blobs.py gives them).
@pytest.mark.parametrize("spoil,reason", [(_gone, "upload_missing"), (_gzipped, "content_encoded"),
                                          (_oversized, "too_large")])
def test_a_hit_whose_upload_cannot_be_read_fails_with_its_reason(spoil, reason):
    blobs, publisher, _, hit = miss_then_hit()
    spoil(blobs, (SETTINGS.uploads_bucket, hit.object))
    assert render.handle(hit, blobs=blobs, publisher=publisher, settings=SETTINGS) == f"failed:{reason}"
    event = JobEvent.model_validate_json(publisher.on(SETTINGS.job_events_topic)[-1])
    assert (event.kind, event.reason) == ("failed", reason)


# --- status tracking and the cost report --------------------------------------------------------------

def test_a_hit_ends_done_from_queued_with_cache_hit_recorded():
    job = Job(job_id="j" * 32, state=State.QUEUED)
    at = datetime.now(timezone.utc)
    assert job_events.apply(job, JobEvent(job_id=job.job_id, kind="succeeded", at=at, result_object="results/x.png",
                                          cache_hit=True, gpu_seconds_saved=1.5))
    assert (job.state, job.cache_hit, job.gpu_seconds_saved) == (State.DONE, True, 1.5)
    miss = Job(job_id="m" * 32, state=State.PROCESSING)
    job_events.apply(miss, JobEvent(job_id=miss.job_id, kind="succeeded", at=at, result_object="results/m.png"))
    assert (miss.state, miss.cache_hit) == (State.DONE, False)


def test_the_cost_report_counts_hits_misses_and_gpu_seconds_saved():
    jobs, now = FakeJobs(), datetime.now(timezone.utc)
    saved = {0: 1.25, 1: 0.75}  # the jobs done 0 and 1 hours ago were cache hits
    for h in range(5):
        jobs.create(Job(f"job-{h}", State.DONE, timestamps={"done": now - timedelta(hours=h)}, cache_hit=h in saved,
                        gpu_seconds_saved=saved.get(h, 0.0)))
    figures = cost_report.handle(store=MemoryOps(), jobs=jobs)["cache"]
    assert {k: figures[k] for k in ("hits", "misses", "hit_rate", "gpu_seconds_saved")} == {
        "hits": 2, "misses": 3, "hit_rate": 0.4, "gpu_seconds_saved": 2.0}
    assert cost_report.handle(store=MemoryOps(), jobs=FakeJobs())["cache"]["hit_rate"] is None


def test_a_stored_mask_renders_pixel_for_pixel_what_the_float_mask_did():
    image = imaging.decode(photo((64, 48)))
    mask = soft_mask(image)
    stored, _ = masks.decode(masks.encode(masks.quantise(mask)), SETTINGS.max_pixels)
    direct = imaging.cut_out(image, mask)
    again = imaging.cut_out(image, stored)
    assert np.array_equal(np.asarray(direct), np.asarray(again))


def test_a_dead_lettered_render_request_fails_the_job_as_a_segment_request_would():
    jobs, blobs = FakeJobs(), FakeBlobs()
    event = new_upload(jobs, blobs, photo())
    job_id = event.name.removeprefix("uploads/")
    jobs.update(job_id, lambda j: j.move(State.QUEUED, datetime.now(timezone.utc)))
    request = RenderRequest(job_id=job_id, bucket=event.bucket, object=event.name, generation=event.generation,
                            cache_entry="cache/x.png")
    message = PubSubMessage(data=base64.b64encode(encode(request)).decode(),
                            attributes={"job_id": job_id, "CloudPubSubDeadLetterSourceSubscription": "render"})
    dead_letter.handle(message, jobs=jobs, leases=FakeLeases())
    assert (jobs.get(job_id).state, jobs.get(job_id).reason) == (State.FAILED, "dead_letter")


def test_the_deploy_gives_intake_the_gpu_services_engine_and_the_builds_checksum(monkeypatch):
    from deploy import functions as deploy

    topo = topology.load(env={})
    monkeypatch.delenv("ENGINE_CHECKSUM", raising=False)
    env = deploy.environment(topo, "p", "us-central1", "1")
    assert env["ENGINE"] == "inspyrenet" and env["CACHE_BUCKET"] == topo["buckets"]["cache"]["name"]
    assert not Settings(engine=env["ENGINE"], engine_checksum=env["ENGINE_CHECKSUM"]).engine_identity.known
    monkeypatch.setenv("ENGINE_CHECKSUM", "ef" * 32)  # cloudbuild.yaml: _CKPT_SHA256, which the image checks
    env = deploy.environment(topo, "p", "us-central1", "1")
    assert Settings(engine=env["ENGINE"], engine_checksum=env["ENGINE_CHECKSUM"]).engine_identity == \
        EngineIdentity("inspyrenet", "ef" * 32)
