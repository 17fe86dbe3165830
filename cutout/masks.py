"""The mask as an object: a lossless 8-bit grayscale PNG, the model's output quantised
by `quantise`, which imaging.cut_out uses too, so a cut-out rendered from the stored mask is the
cut-out the GPU service made (pixel for pixel: tests/unit/test_cache.py).

PIL and numpy only: the render function (functions/render.py) reads these too.
"""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image

CONTENT_TYPE = "image/png"
# A cache entry's PNG text chunk: the GPU service's seconds on the job that made it
# (what a later hit saves; the cost report sums them).
GPU_SECONDS_KEY = "gpu_seconds"
_AFTER_IHDR = 8 + 4 + 4 + 13 + 4  # the signature, then IHDR's length, type, 13 data bytes and CRC


def quantise(mask: np.ndarray) -> np.ndarray:
    """A float mask in [0, 1] to uint8, rounded to the nearest step (imaging.cut_out's alpha)."""
    return np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8)


def encode(alpha: np.ndarray, gpu_seconds: float | None = None) -> bytes:
    out = io.BytesIO()
    Image.fromarray(alpha, "L").save(out, "PNG", compress_level=1)
    png = out.getvalue()
    return png if gpu_seconds is None else with_gpu_seconds(png, gpu_seconds)


def with_gpu_seconds(png: bytes, gpu_seconds: float) -> bytes:
    """The same encoded mask with the cache entry's text chunk, the pixels not encoded again:
    the tEXt chunk goes right after IHDR, as PIL's `pnginfo` puts it (byte for byte the same
    file: tests/unit/test_cache.py). PNG allows tEXt anywhere between IHDR and IEND:
    https://www.w3.org/TR/png/#5ChunkOrdering"""
    if png[12:16] != b"IHDR":
        raise ValueError("not a PNG that starts with its IHDR chunk")
    text = GPU_SECONDS_KEY.encode("latin-1") + b"\0" + f"{gpu_seconds:.4f}".encode("latin-1")
    chunk = struct.pack(">I", len(text)) + b"tEXt" + text + struct.pack(">I", zlib.crc32(b"tEXt" + text))
    return png[:_AFTER_IHDR] + chunk + png[_AFTER_IHDR:]


class BadMask(ValueError):
    """The stored bytes are not one of our masks."""


def decode(data: bytes, max_pixels: int) -> tuple[np.ndarray, float]:
    """The float mask in [0, 1] (height x width) and the GPU seconds it cost (0 when not recorded)."""
    try:
        image = Image.open(io.BytesIO(data), formats=["PNG"])
        if image.mode != "L" or image.width * image.height > max_pixels:
            raise BadMask(f"not an 8-bit grayscale mask within {max_pixels} pixels: {image.mode} {image.size}")
        image.load()
        seconds = float(image.info.get(GPU_SECONDS_KEY, 0) or 0)
    except BadMask:
        raise
    except Exception as exc:
        raise BadMask(f"cannot read mask: {exc}") from exc
    return np.asarray(image, dtype=np.float32) / 255.0, seconds
