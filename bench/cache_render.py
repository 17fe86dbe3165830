"""Where a cache hit is rendered: the memory and time of functions/render.py on one photo.

Each case runs in a fresh process (peak RSS is per process): the functions' entry module
alone (what intake holds), then a cache hit rendered from a stored mask at each size.
Compare the peaks with intake's 1 GiB, half of it already its decode check's budget.

    python -m bench.cache_render [--sizes 1024x768,4000x3000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import io, json, resource, sys, time
import numpy as np
from PIL import Image
size = tuple(int(v) for v in sys.argv[1].split("x"))
import main  # noqa: F401  what every function process holds
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if size == (0, 0):
    print(json.dumps({"case": "import main", "peak_mib": base / 1024})); sys.exit()
from domain.cache import EngineIdentity, entry_for
from events.schemas import RenderRequest
from functions import render
from cutout import masks
from settings import Settings
from tests.fakes import FakeBlobs, FakePublisher
from skimage import data as samples
out = io.BytesIO()
Image.fromarray(samples.chelsea()).resize(size).save(out, "JPEG", quality=90)
photo = out.getvalue()
s = Settings()
blobs, publisher = FakeBlobs(), FakePublisher()
generation = blobs.put(s.uploads_bucket, "uploads/j", photo, "image/jpeg")
shown = Image.open(io.BytesIO(photo)); shown.thumbnail((s.output_max_side,) * 2)
ramp = np.clip(np.linspace(-0.5, 1.5, shown.width, dtype=np.float32), 0, 1)
alpha = masks.quantise(np.broadcast_to(ramp, (shown.height, shown.width)))
entry = entry_for(photo, EngineIdentity.of("u2netp"))
blobs.put(s.cache_bucket, entry, masks.encode(alpha, 1.0), "image/png")
after_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
outcome = render.handle(RenderRequest(job_id="j" * 32, bucket=s.uploads_bucket, object="uploads/j",
                                      generation=generation, cache_entry=entry), blobs=blobs,
                        publisher=publisher, settings=s)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"case": f"render {size[0]}x{size[1]}", "outcome": outcome, "seconds": round(seconds, 3),
                  "peak_mib": round(peak / 1024), "imports_mib": round((after_import - base) / 1024),
                  "photo_mib": round(len(photo) / 2**20, 2)}))
"""


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024x768,4000x3000,8000x6000")
    args = parser.parse_args(argv)
    rows = []
    for size in ["0x0", *args.sizes.split(",")]:
        done = subprocess.run([sys.executable, "-c", CHILD, size], capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]))
    return rows


if __name__ == "__main__":
    main()
