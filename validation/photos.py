"""Photos for the gate, made on the fly (nothing committed): scikit-image's cat photo (a real
pet photo) at any size, so 12-48 MP phone-sized uploads exist without shipping them.

Every photo is a new file (a unique JPEG comment, the same pixels): identical bytes would be
served from the mask cache (domain/cache.py, keyed by the bytes) without reaching the GPU
service, and the gate would time the cache instead of the model. The pixels stay the same
so every photo passes the subject gate (domain/subject.py) as the cat always does."""

from __future__ import annotations

import io
import math
import uuid

from PIL import Image


def pet_photo(size: tuple[int, int] = (1024, 768), quality: int = 90) -> bytes:
    from skimage import data

    image = Image.fromarray(data.chelsea()).resize(size, Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, comment=f"validation {uuid.uuid4().hex}".encode())
    return out.getvalue()


def megapixel_photo(megapixels: float) -> bytes:
    """A 4:3 JPEG of about `megapixels` MP, as a phone takes it (48 MP: 8000x6000)."""
    width = int(round(math.sqrt(megapixels * 1e6 * 4 / 3) / 8) * 8)
    return pet_photo((width, width * 3 // 4), quality=85)


def truncated_photo() -> bytes:
    """A JPEG cut off half-way: its signature passes, its decode does not."""
    whole = pet_photo((640, 480))
    return whole[: len(whole) // 2]


NOT_AN_IMAGE = b"<?php echo 'this is not a photo'; ?>" * 64
