"""Hostile uploads (tests/hostile.py, made at run time) against intake's check and the GPU decode,
with the deployed budgets from settings: each ends rejected with its own reason, or passes
within budget, and real photos still pass."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
from PIL import Image

from cutout import imaging
from domain.decode_budget import full_decode_cost
from domain.image_probe import Malformed, probe
from domain.uploads import REJECT_REASONS, Rejected, inspect
from events.schemas import GcsObjectEvent, SegmentRequest
from functions import intake
from gpu_service.worker import Outcome, Worker
from settings import Settings
from tests import hostile
from tests.fakes import FakeBlobs, FakeJobs, FakeLeases, FakePublisher
from tests.unit.test_function_handlers import new_job

SETTINGS = Settings()  # the deployed limits: intake 1 GiB, GPU 32 GiB for 16 requests
# name -> what intake's check says (None: passes) with the deployed budgets
EXPECTED = {
    "blank 8000x8000 lossless webp": None,  # structure only at intake; the GPU decode fits its share
    "48 MP lossy webp": None,
    "64 MP png": None,
    "animated webp, 500 frames": "animated_image",
    "apng, 300 frames": "animated_image",
    "progressive jpeg, 300 scans": "too_many_scans",
    "progressive jpeg, 3000 scans": "too_many_scans",
}


def check(data: bytes, declared: str, settings: Settings = SETTINGS):
    try:
        inspect(data, declared, settings.max_upload_bytes, settings.intake_decode_budget, settings.gpu_decode_budget)
    except Rejected as rejected:
        return rejected.reason
    return None


@pytest.mark.parametrize("name", list(hostile.CORPUS))
def test_each_hostile_upload_gets_its_verdict_at_intake(name):
    maker, declared = hostile.CORPUS[name]
    assert check(maker(), declared) == EXPECTED[name]


@pytest.mark.parametrize("name", list(hostile.GOOD))
def test_real_photos_pass_intake(name):
    maker, declared = hostile.GOOD[name]
    assert check(maker(), declared) is None


def test_every_reason_intake_gives_is_a_known_code():
    assert {r for r in EXPECTED.values() if r} <= REJECT_REASONS


@pytest.mark.parametrize("name", [n for n, r in EXPECTED.items() if r])
def test_the_gpu_decode_refuses_them_too_without_trusting_intake(name):
    maker, _ = hostile.CORPUS[name]
    with pytest.raises(imaging.BadImage) as caught:
        imaging.decode(maker(), SETTINGS.gpu_decode_budget)
    assert caught.value.reason == EXPECTED[name]


def test_the_gpu_decode_of_the_38_byte_webp_stays_within_its_share():
    data = hostile.blank_lossless_webp()
    assert len(data) < 100
    budget = SETTINGS.gpu_decode_budget
    assert full_decode_cost(probe(data, "webp"), budget.max_side).memory_bytes <= budget.memory_bytes
    image = imaging.decode(data, budget)
    assert max(image.size) == SETTINGS.output_max_side


def test_a_smaller_deployment_refuses_the_same_file_by_memory():
    # Same file, a GPU service with 8 GiB for 16 requests: the share no longer fits a 64 MP WebP.
    small = Settings(gpu_memory_mib=8 * 1024, gpu_reserved_mib=4 * 1024)
    assert check(hostile.blank_lossless_webp(), "image/webp", small) == "over_memory_budget"
    with pytest.raises(imaging.BadImage) as caught:
        imaging.decode(hostile.blank_lossless_webp(), small.gpu_decode_budget)
    assert caught.value.reason == "over_memory_budget"
    # and an intake with 128 MiB cannot hold a 48 MP progressive JPEG's coefficients
    tiny = Settings(intake_memory_mib=128)
    assert check(hostile.progressive_jpeg((8000, 6000)), "image/jpeg", tiny) == "over_memory_budget"


def test_scans_are_counted_and_a_normal_progressive_photo_has_ten():
    assert probe(hostile.progressive_jpeg(), "jpeg").scans == 10
    assert probe(hostile.scan_bomb(300), "jpeg").scans == 300
    # the CPU budget follows the image: a few hundred repeated scans at 12 MP are cheap enough
    assert check(hostile.scan_bomb(300, size=(4032, 3024)), "image/jpeg") is None
    assert check(hostile.scan_bomb(3000, size=(4032, 3024)), "image/jpeg") == "too_many_scans"


def test_frames_and_canvas_come_from_the_structure():
    assert probe(hostile.animated_webp(), "webp").frames == 500
    assert probe(hostile.apng(), "png").frames == 300
    lossless = probe(hostile.blank_lossless_webp(), "webp")
    assert (lossless.width, lossless.height, lossless.lossless) == (8000, 8000, True)
    assert probe(hostile.interlaced_png(), "png").progressive


def test_broken_structures_have_their_reason():
    webp = hostile.lossy_webp_48mp()
    png = bytearray(hostile.interlaced_png())
    png[100] ^= 0xFF  # inside IDAT: its CRC no longer matches
    jpeg = hostile.phone_jpeg_12mp()
    assert check(webp[: len(webp) // 2], "image/webp") == "truncated_image"
    assert check(bytes(png), "image/png") == "corrupt_image"
    assert check(jpeg[:-2], "image/jpeg") == "truncated_image"  # no EOI
    with pytest.raises(Malformed):
        probe(b"RIFF" + struct.pack("<I", 4) + b"WEBP", "webp")


def test_png_data_that_inflates_short_is_truncated_even_with_good_crcs():
    import zlib

    good = hostile.interlaced_png()
    found = probe(good, "png")
    short = zlib.compress(b"\0" * (found.raw_bytes // 2))
    ihdr_end = 8 + 12 + 13
    body = good[:ihdr_end] + struct.pack(">I", len(short)) + b"IDAT" + short + struct.pack(
        ">I", zlib.crc32(b"IDAT" + short)) + good[-12:]
    assert check(body, "image/png") == "truncated_image"


def test_output_max_side_above_4096_governs_the_decode():
    wide = Settings(output_max_side=6000)
    image = imaging.decode(hostile.phone_jpeg_48mp(), wide.gpu_decode_budget)
    assert image.size == (6000, 4500)
    assert imaging.decode(hostile.phone_jpeg_48mp(), SETTINGS.gpu_decode_budget).size == (4096, 3072)


def test_the_worker_decodes_to_output_max_side():
    settings = Settings(output_max_side=6000)
    blobs, leases, publisher = FakeBlobs(), FakeLeases(), FakePublisher()
    seen = []

    def segment(image, timeout=None):
        seen.append(image.size)
        mask = np.zeros((image.height, image.width), np.float32)
        mask[:, : image.width // 2] = 1.0  # a subject (a full-frame mask is none: domain/subject.py)
        return mask

    worker = Worker(blobs=blobs, leases=leases, publisher=publisher, segment=segment, settings=settings)
    generation = blobs.put(settings.uploads_bucket, "uploads/" + "b" * 32, hostile.phone_jpeg_48mp(), "image/jpeg")
    request = SegmentRequest(job_id="b" * 32, bucket=settings.uploads_bucket, object="uploads/" + "b" * 32,
                             generation=generation, content_type="image/jpeg")
    assert worker.process(request) is Outcome.DONE
    assert seen == [(6000, 4500)]
    out = Image.open(io.BytesIO(blobs.read(settings.results_bucket, "results/" + "b" * 32 + ".png")))
    assert out.size == (6000, 4500)


def test_a_gzip_encoded_upload_is_rejected_before_its_bytes_are_read():
    jobs, blobs, publisher = FakeJobs(), FakeBlobs(), FakePublisher()
    job_id = new_job(jobs)
    data, headers = hostile.gzip_encoded_jpeg()
    generation = blobs.put(SETTINGS.uploads_bucket, f"uploads/{job_id}", data, "image/jpeg",
                           content_encoding=headers["Content-Encoding"])
    event = GcsObjectEvent(event_type="OBJECT_FINALIZE", bucket=SETTINGS.uploads_bucket, name=f"uploads/{job_id}",
                           generation=generation)
    assert intake.handle(event, jobs=jobs, blobs=blobs, publisher=publisher, settings=SETTINGS) == \
        "rejected:content_encoded"
    assert jobs.get(job_id).reason == "content_encoded" and not publisher.on(SETTINGS.segment_topic)


def test_the_worker_fails_an_encoded_or_oversized_object_with_its_reason():
    blobs, leases, publisher = FakeBlobs(), FakeLeases(), FakePublisher()
    worker = Worker(blobs=blobs, leases=leases, publisher=publisher, segment=lambda i: None, settings=SETTINGS)
    data, _ = hostile.gzip_encoded_jpeg()
    for job_id, encoding, body in (("c" * 32, "gzip", data), ("d" * 32, "", b"\xff\xd8\xff" + b"\0" * (31 << 20))):
        generation = blobs.put(SETTINGS.uploads_bucket, f"uploads/{job_id}", body, "image/jpeg",
                               content_encoding=encoding)
        request = SegmentRequest(job_id=job_id, bucket=SETTINGS.uploads_bucket, object=f"uploads/{job_id}",
                                 generation=generation, content_type="image/jpeg")
        assert worker.process(request) is Outcome.FAILED
    reasons = [json.loads(m)["reason"] for m in publisher.on(SETTINGS.job_events_topic)
               if json.loads(m)["kind"] == "failed"]
    assert reasons == ["content_encoded", "too_large"]


def test_the_widget_has_a_message_for_every_reason_a_job_can_end_with():
    import re
    from pathlib import Path

    widget = (Path(__file__).resolve().parents[2] / "web" / "pet-upload.js").read_text()
    messages = set(re.findall(r"^  (\w+): \"", widget.split("const MESSAGES = {", 1)[1].split("};", 1)[0], re.M))
    assert REJECT_REASONS - messages == set()


def shared_samples() -> list:
    from tests import samples

    return sorted(samples.IMAGES.glob("*.jpg")) if samples.IMAGES.is_dir() else []


@pytest.mark.skipif(not shared_samples(), reason="shared pet samples not found (tests/samples.py; PET_SAMPLES_DIR)")
def test_the_shared_samples_pass_as_they_are_and_saved_progressive():
    for path in shared_samples():
        data = path.read_bytes()
        out = io.BytesIO()
        Image.open(io.BytesIO(data)).convert("RGB").save(out, "JPEG", quality=90, progressive=True)
        for variant in (data, out.getvalue()):
            assert check(variant, "image/jpeg") is None, path.name
            imaging.decode(variant, SETTINGS.gpu_decode_budget)


def test_a_48_megapixel_progressive_photo_passes_both_checks():
    photo = hostile.progressive_jpeg((8000, 6000))
    assert check(photo, "image/jpeg") is None
    assert imaging.decode(photo, SETTINGS.gpu_decode_budget).size == (4096, 3072)


def test_a_flood_of_empty_segments_is_refused_quickly():
    import time

    jpeg = hostile.phone_jpeg_12mp()
    flood = jpeg[:2] + b"\xff\xfe\x00\x02" * 2_000_000 + jpeg[2:]  # 8 MB of empty comments
    started = time.process_time()
    assert check(flood, "image/jpeg") == "corrupt_image"
    assert time.process_time() - started < 1.0


def test_a_phone_photo_with_a_second_picture_after_it_passes_and_is_draft_decoded():
    # Phones append pictures after the main one (MPO; Ultra HDR gain maps): the probe reads the
    # first, and the GPU decode scales it down in libjpeg as the cost model assumes.
    # (tests/imaging/test_under_memory_caps.py shows the draft: it decodes within the scaled estimate)
    data = hostile.mpo_jpeg_61mp()
    assert Image.open(io.BytesIO(data)).format == "MPO"
    assert check(data, "image/jpeg") is None
    assert max(imaging.decode(data, SETTINGS.gpu_decode_budget).size) == SETTINGS.output_max_side
