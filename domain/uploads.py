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

ALLOWED_TYPES = {"image/jpeg": "jpeg", "image/png": "png", "image/webp": "webp"}
OUTPUT_FORMATS = {"png", "webp", "jpeg"}
EFFECTS = {"none", "blackwhite"}


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


def inspect(data: bytes, declared_type: str, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Check an uploaded object by its bytes; raise Rejected with a reason code."""
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
        with warnings.catch_warnings():
            # Pillow warns, then raises, past its own bomb limit; we check ours first.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise Rejected("too_many_pixels", f"{width}x{height} is over {max_pixels} pixels")
                # A full decode (at 1/8 scale for JPEG) finds truncated or corrupt data.
                img.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                img.load()
    except Rejected:
        raise
    except Image.DecompressionBombError as exc:
        raise Rejected("too_many_pixels", str(exc)) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        reason = "truncated_image" if "truncated" in str(exc).lower() else "corrupt_image"
        raise Rejected(reason, str(exc)) from exc
    return ImageInfo(kind, width, height)
