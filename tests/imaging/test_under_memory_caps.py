"""Intake's check in a fresh process capped at intake's deployed memory (settings.intake_memory_mib,
the number deploy/functions.py deploys it with): it survives every hostile upload with the right
verdict. The cap is real: the same harness kills a child that goes over it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from settings import Settings
from tests import hostile, memory_cap

ROOT = Path(__file__).resolve().parents[2]
LIMIT = Settings().intake_memory_mib * 1024 * 1024
METHOD = memory_cap.how()
pytestmark = pytest.mark.skipif(METHOD is None, reason="no writable memory cgroup and no RLIMIT_AS here")

# The whole handler, as the function runs it: the object read from storage (its metadata
# first), checked, the job moved. `main` is imported first, as in a deployed instance.
CHILD = """
import json, sys
import main  # noqa: F401
from events.schemas import GcsObjectEvent
from functions import intake
from settings import get_settings
from tests.fakes import FakeBlobs, FakeJobs, FakePublisher
from tests.unit.test_function_handlers import new_job

path, declared, encoding = sys.argv[1:4]
settings = get_settings()
jobs, blobs, publisher = FakeJobs(), FakeBlobs(), FakePublisher()
job_id = new_job(jobs, declared)
generation = blobs.put(settings.uploads_bucket, "uploads/" + job_id, open(path, "rb").read(), declared,
                       content_encoding=encoding)
event = GcsObjectEvent(event_type="OBJECT_FINALIZE", bucket=settings.uploads_bucket, name="uploads/" + job_id,
                       generation=generation)
outcome = intake.handle(event, jobs=jobs, blobs=blobs, publisher=publisher, settings=settings)
print(json.dumps({"outcome": outcome, "state": jobs.get(job_id).state.value}))
"""
EXPECTED = {
    "blank 8000x8000 lossless webp": "queued", "48 MP lossy webp": "queued", "64 MP png": "queued",
    "animated webp, 500 frames": "rejected:animated_image", "apng, 300 frames": "rejected:animated_image",
    "progressive jpeg, 300 scans": "rejected:too_many_scans", "progressive jpeg, 3000 scans": "rejected:too_many_scans",
    "gzip-encoded jpeg": "rejected:content_encoded",
    "12 MP jpeg (baseline)": "queued", "48 MP jpeg": "queued", "12 MP progressive jpeg": "queued",
    "interlaced png": "queued",
}


def cases() -> dict[str, tuple[bytes, str, str]]:
    out = {name: (maker(), declared, "") for name, (maker, declared) in {**hostile.CORPUS, **hostile.GOOD}.items()}
    gz, headers = hostile.gzip_encoded_jpeg()
    out["gzip-encoded jpeg"] = (gz, "image/jpeg", headers["Content-Encoding"])
    return out


def run_capped(argv: list[str]) -> memory_cap.Capped:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return memory_cap.run(argv, LIMIT, env=env, cwd=str(ROOT), timeout=300)


def test_intake_survives_every_hostile_upload_under_its_deployed_memory(tmp_path):
    verdicts, peaks = {}, {}
    for name, (data, declared, encoding) in cases().items():
        path = tmp_path / "upload"
        path.write_bytes(data)
        done = run_capped([sys.executable, "-c", CHILD, str(path), declared, encoding])
        assert done.returncode == 0, f"{name}: exit {done.returncode} under {METHOD}\n{done.stderr[-2000:]}"
        verdicts[name] = json.loads(done.stdout.strip().splitlines()[-1])["outcome"]
        peaks[name] = done.peak_bytes
    assert verdicts == EXPECTED
    print(f"\npeak memory of each child ({METHOD}, limit {LIMIT >> 20} MiB):",
          {n: (p or 0) >> 20 for n, p in peaks.items()})


def test_the_cap_kills_a_child_that_goes_over_it():
    grow = f"b = bytearray({LIMIT + (256 << 20)}); b[::4096] = b'x' * len(b[::4096]); print('survived')"
    done = run_capped([sys.executable, "-c", grow])
    assert done.returncode != 0 and "survived" not in done.stdout


GPU_CHILD = """
import sys
from pathlib import Path
import main  # noqa: F401
from cutout import imaging
from settings import get_settings

group = next(line.split(":", 2)[2] for line in open("/proc/self/cgroup") if ":memory:" in line)
usage = Path("/sys/fs/cgroup/memory" + group.strip()) / "memory.usage_in_bytes"
data = open(sys.argv[1], "rb").read()
before = int(usage.read_text()) if usage.exists() else 0
image = imaging.decode(data, get_settings().gpu_decode_budget)
print(before)
"""
def _png(size, mode, fmt="PNG") -> bytes:
    import io

    from PIL import Image

    image = hostile._photo(size).convert(mode)
    if mode == "RGBA":
        image.putalpha(Image.linear_gradient("L").resize(size))
    out = io.BytesIO()
    image.save(out, fmt, **({"compress_level": 1} if fmt == "PNG" else {"quality": 80, "method": 0}))
    return out.getvalue()


# What a fresh child holds before the decode (interpreter, Pillow, numpy), as the cgroup counts it.
CHILD_BASELINE = 64 << 20  # measured here: 37-43 MiB


@pytest.mark.parametrize("name", ["blank 8000x8000 lossless webp", "48 MP lossy webp", "64 MP png", "48 MP jpeg",
                                  "48 MP progressive jpeg", "61 MP MPO", "4500x3375 png", "4500x3375 rgba png",
                                  "4500x3375 rgba webp"])
def test_the_gpu_decode_stays_within_its_own_estimate(tmp_path, name):
    """The cost model is an upper bound: the decode, capped at its estimate (plus the child's
    baseline), is not killed. A model that under-estimates fails here."""
    from domain.decode_budget import full_decode_cost
    from domain.image_probe import probe
    from domain.uploads import sniff

    makers = {**{n: m for n, (m, _) in {**hostile.CORPUS, **hostile.GOOD}.items()},
              "48 MP progressive jpeg": lambda: hostile.progressive_jpeg((8000, 6000)),
              "61 MP MPO": hostile.mpo_jpeg_61mp,  # draft-decoded at 1/2, then cut to 4096
              "4500x3375 png": lambda: _png((4500, 3375), "RGB"),
              "4500x3375 rgba png": lambda: _png((4500, 3375), "RGBA"),
              "4500x3375 rgba webp": lambda: _png((4500, 3375), "RGBA", "WEBP")}
    data = makers[name]()
    estimate = full_decode_cost(probe(data, sniff(data[:16])), Settings().output_max_side).memory_bytes
    path = tmp_path / "upload"
    path.write_bytes(data)
    done = memory_cap.run([sys.executable, "-c", GPU_CHILD, str(path)], CHILD_BASELINE + estimate,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=str(ROOT), timeout=300)
    assert done.returncode == 0, f"{name}: exit {done.returncode} capped at {(CHILD_BASELINE + estimate) >> 20} MiB"
    if METHOD == "cgroup v1":  # the cgroup's peak over what the child held before decoding (RLIMIT_AS has none)
        assert done.peak_bytes is not None, "the cgroup gave no peak: the estimate went unchecked"
        used = done.peak_bytes - int(done.stdout.split()[-1])
        print(f"\n{name}: estimate {estimate >> 20} MiB, decode took {used >> 20} MiB")
        assert used <= estimate
