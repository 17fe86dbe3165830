"""Photos for the gate, made on the fly (nothing committed): scikit-image's cat photo (a real
pet photo) at any size, so 12-48 MP phone-sized uploads exist without shipping them.

Every photo is a new one (a random crop of the cat, a unique comment): identical bytes would
be served from the mask cache (domain/cache.py) without reaching the GPU service, and the
gate would time the cache instead of the model."""

from __future__ import annotations

import io
import math
import random
import uuid

from PIL import Image


def pet_photo(size: tuple[int, int] = (1024, 768), quality: int = 90) -> bytes:
    from skimage import data

    source = Image.fromarray(data.chelsea())
    dx, dy = random.randrange(16), random.randrange(16)
    crop = source.crop((dx, dy, source.width - 16 + dx, source.height - 16 + dy))
    image = crop.resize(size, Image.Resampling.BICUBIC)
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
