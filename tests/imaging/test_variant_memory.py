"""The variant function under its deployed memory (settings.variant_memory_mib, the number
deploy/functions.py deploys it with), at the worst sizes it allows: the largest decodes its
budget admits and the largest render (a 4096x4096 cut-out, PNG with alpha). Each runs the whole
handler in a fresh process that imported main, as a deployed instance has; what is over the
budget is refused with a clear reason, never killed."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFilter

from settings import Settings
from tests import hostile, memory_cap

ROOT = Path(__file__).resolve().parents[2]
LIMIT = Settings().variant_memory_mib * 1024 * 1024
METHOD = memory_cap.how()
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(METHOD is None, reason="no writable memory cgroup and no RLIMIT_AS here")]

CHILD = """
import json, sys
import main  # noqa: F401
from domain.jobs import State
from domain.variants import VariantRequest
from functions import variant
from settings import get_settings
from tests.fakes import FakeBlobs, FakeJobs
from tests.variant_fixtures import OWNER, done_job, store_mask

photo, mask = (open(p, "rb").read() for p in sys.argv[1:3])
settings = get_settings()
jobs, blobs = FakeJobs(), FakeBlobs()
job_id = done_job(jobs, blobs, settings)
blobs.put(settings.uploads_bucket, f"uploads/{job_id}", photo)
jobs.update(job_id, lambda j: setattr(j, "upload_generation", "") or True)
blobs.objects.pop((settings.results_bucket, f"masks/{job_id}.png"))
store_mask(blobs, settings, job_id, mask)
try:
    answer = variant.handle(VariantRequest(job_id=job_id, spec={"format": "png", "max_side": settings.output_max_side}),
                            OWNER, jobs=jobs, blobs=blobs, settings=settings)
    print(json.dumps({"outcome": "rendered", "bytes": len(blobs.read(settings.results_bucket, answer["object"]))}))
except variant.Refused as refused:
    print(json.dumps({"outcome": f"{refused.status}:{refused.reason}"}))
"""


def square_jpeg_4096() -> bytes:
    out = io.BytesIO()
    hostile._photo((4096, 4096)).save(out, "JPEG", quality=90)
    return out.getvalue()


CASES = {
    "4096x4096 jpeg (largest render)": (square_jpeg_4096, "rendered"),
    "48 MP lossy webp": (hostile.lossy_webp_48mp, "rendered"),
    "64 MP png": (hostile.png_64mp, "rendered"),
    # 1152 MiB to decode, over the 1024 MiB budget (the GPU service's share is larger): refused.
    "blank 8000x8000 lossless webp": (hostile.blank_lossless_webp, "422:over_memory_budget"),
}


def mask_for(photo: bytes) -> bytes:
    """A soft ellipse the size the photo decodes to (as the pipeline's mask is)."""
    from cutout import imaging

    try:
        size = imaging.decode(photo, Settings().gpu_decode_budget).size
    except imaging.BadImage:
        size = (64, 64)
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse((size[0] // 5, size[1] // 6, size[0] * 4 // 5, size[1] * 5 // 6), fill=255)
    out = io.BytesIO()
    mask.filter(ImageFilter.GaussianBlur(3)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("name", list(CASES))
def test_the_variant_renders_the_worst_allowed_sizes_under_its_deployed_memory(tmp_path, name):
    maker, expected = CASES[name]
    photo = maker()
    (tmp_path / "photo").write_bytes(photo)
    (tmp_path / "mask").write_bytes(mask_for(photo))
    done = memory_cap.run([sys.executable, "-c", CHILD, str(tmp_path / "photo"), str(tmp_path / "mask")], LIMIT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=str(ROOT), timeout=300)
    assert done.returncode == 0, f"{name}: exit {done.returncode} under {METHOD}\n{done.stderr[-2000:]}"
    assert json.loads(done.stdout.strip().splitlines()[-1])["outcome"] == expected
    print(f"\n{name}: peak {(done.peak_bytes or 0) >> 20} MiB of {LIMIT >> 20} MiB ({METHOD})")
