"""What an upload must be: checked on the request, then again on the bytes.

The storefront's declared type and size are only a promise; intake trusts the
magic number and a real decode, so a renamed file or a decompression bomb never
reaches the GPU.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image

from domain.decode_budget import Budget, OverBudget, check_cost, enforce, full_decode_cost
from domain.image_probe import Malformed, png_data_inflates, probe

ALLOWED_TYPES = {"image/jpeg": "jpeg", "image/png": "png", "image/webp": "webp"}
OUTPUT_FORMATS = {"png", "webp", "jpeg"}
EFFECTS = {"none", "blackwhite"}


# Every reason an upload ends `rejected` with (the widget has a message for each, web/pet-upload.js).
REJECT_REASONS = frozenset({
    "unsupported_type", "empty_file", "too_large", "not_an_image", "type_mismatch", "truncated_image",
    "corrupt_image", "too_many_pixels",
    # Over a decoding budget (domain/decode_budget.py): animation, a progressive JPEG's
    # scans, the memory or CPU a decode would take.
    "animated_image", "too_many_scans", "over_memory_budget", "over_cpu_budget",
    # Stored with a Content-Encoding (gzip): Cloud Storage would decompress it on download.
    "content_encoded",
})


class Rejected(Exception):
    """An upload that can never be processed; `reason` is a stable code."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def sniff(head: bytes) -> str | None:
    """The image kind a file's first bytes announce, or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


def check_request(content_type: str, size: int, max_bytes: int) -> None:
    """Refuse, before any upload, what the store never accepts."""
    if content_type not in ALLOWED_TYPES:
        raise Rejected("unsupported_type", f"{content_type!r} is not JPEG, PNG or WebP")
    if size <= 0:
        raise Rejected("empty_file", "size must be positive")
    if size > max_bytes:
        raise Rejected("too_large", f"{size} bytes is over the {max_bytes}-byte limit")


@dataclass(frozen=True)
class ImageInfo:
    kind: str
    width: int
    height: int


def inspect(data: bytes, declared_type: str, max_bytes: int, budget: Budget,
            gpu_budget: Budget | None = None) -> ImageInfo:
    """Check an uploaded object by its bytes; raise Rejected with a reason code.

    The structure is read first (image_probe), and the cost of every decode is checked
    against its budget before a pixel is decoded: intake's own check against `budget`
    and, when given, the GPU service's decode against `gpu_budget`, so an upload it
    would refuse never wakes it. The check itself decodes no image at full size: JPEG at
    1/8 scale, PNG data inflated and thrown away piece by piece, WebP by structure only
    (libwebp has no cheaper path than a full-size decode)."""
    if not data:
        raise Rejected("empty_file")
    if len(data) > max_bytes:
        raise Rejected("too_large", f"{len(data)} bytes")
    kind = sniff(data[:16])
    if kind is None:
        raise Rejected("not_an_image", "no JPEG, PNG or WebP signature")
    if ALLOWED_TYPES.get(declared_type) != kind:
        raise Rejected("type_mismatch", f"declared {declared_type}, content is {kind}")
    try:
        found = probe(data, kind)
        enforce(found, check_cost(found), budget, "intake's check")
        if gpu_budget is not None:
            enforce(found, full_decode_cost(found, gpu_budget.max_side), gpu_budget, "the GPU decode")
        if kind == "png":
            png_data_inflates(data, found.raw_bytes)
        elif kind == "jpeg":
            _decode_small(data, found)
    except OverBudget as over:
        raise Rejected(over.reason, over.detail) from over
    except Malformed as bad:
        raise Rejected("truncated_image" if bad.truncated else "corrupt_image", str(bad)) from bad
    return ImageInfo(kind, found.width, found.height)


def _decode_small(data: bytes, found) -> None:
    """A real decode at 1/8 scale finds corrupt entropy-coded data; its cost was checked first."""
    try:
        with warnings.catch_warnings():
            # Pillow warns, then raises, past its own bomb limit; ours was checked first.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=("JPEG",)) as img:
                img.draft("RGB", (max(1, found.width // 8), max(1, found.height // 8)))
                img.load()
    except Image.DecompressionBombError as exc:
        raise Rejected("too_many_pixels", str(exc)) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        reason = "truncated_image" if "truncated" in str(exc).lower() else "corrupt_image"
        raise Rejected(reason, str(exc)) from exc
