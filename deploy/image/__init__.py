"""The GPU service image, built and run here: base, build arguments, the in-image check.

CI builds gpu_service/Dockerfile itself with podman (no Docker engine, no registry);
only build arguments and read-only mounts differ from the production build.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "gpu_service" / "Dockerfile"
IMAGE = "pet-cutout-gpu:ci"
WORK = ROOT / ".local" / "image"  # the CI checkpoint and the last build's log (never committed)


def log(event: str, **fields) -> None:
    """One JSON line on stderr (stdout stays free for results)."""
    print(json.dumps({"time": round(time.time(), 3), "event": event, **fields}), file=sys.stderr, flush=True)
