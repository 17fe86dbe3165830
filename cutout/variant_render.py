"""Render a variant from the original photo and its stored mask, without the model.

One function, `render`, in data-flow order: decode the photo as the GPU service did
(imaging.decode: upright, at most output_max_side, so it has the mask's size) -> the
mask -> cut out with the same foreground estimation (imaging.cut_out) -> crop to the
subject -> background -> encode (imaging.encode). Used by the variant function; the
cache's reuse of a mask renders through it too. PIL, numpy and OpenCV only: the
functions deploy gpu_service/{imaging,foreground,render}.py and nothing else of it
(.gcloudignore).

Deterministic: the same photo, mask and spec give the same bytes (zlib, libwebp and
libjpeg are deterministic for the same pixels and settings; tests check it).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from cutout import imaging
from cutout.masks import BadMask  # the one error for a stored mask we cannot use
from domain.decode_budget import Budget
from domain.variants import CROP_ALPHA_THRESHOLD, crop_box


def render_variant(photo: bytes, mask_png: bytes, spec: dict, budget: Budget) -> bytes:
    """The encoded variant of `spec` (domain.variants.canonical). Raises imaging.BadImage for a
    photo over `budget` or undecodable, BadMask for a mask that does not fit the photo."""
    image = imaging.decode(photo, budget)
    alpha = read_mask(mask_png, image.size)
    rgba = imaging.cut_out(image, np.asarray(alpha), spec["effect"])
    del image
    if spec["crop_margin"] is not None:
        rgba = rgba.crop(crop_box(subject_box(alpha), rgba.size, spec["crop_margin"]))
    background = spec["background"]
    if background == "transparent" or spec["format"] == "jpeg":
        # JPEG flattens onto its background inside encode; PNG/WebP keep their alpha.
        return imaging.encode(rgba, spec["format"], spec["max_side"],
                              background="#ffffff" if background == "transparent" else background)
    return imaging.encode(flatten(rgba, background), spec["format"], spec["max_side"])


def read_mask(data: bytes, size: tuple[int, int]) -> Image.Image:
    """The stored mask as an L image; its size is checked from the header before any pixel is decoded."""
    try:
        mask = Image.open(io.BytesIO(data), formats=("PNG",))
    except Exception as exc:  # Pillow raises many types for bad data
        raise BadMask(f"the stored mask is not a PNG: {exc}") from exc
    if mask.size != size or mask.mode != "L":
        raise BadMask(f"the stored mask is {mask.mode} {mask.size[0]}x{mask.size[1]}, "
                      f"the photo decodes to {size[0]}x{size[1]}")
    mask.load()
    return mask


def subject_box(alpha: Image.Image) -> tuple[int, int, int, int] | None:
    """The bounding box of the pixels with alpha above CROP_ALPHA_THRESHOLD, or None."""
    return alpha.point(lambda v: 255 if v > CROP_ALPHA_THRESHOLD else 0).getbbox()


def flatten(rgba: Image.Image, colour: str) -> Image.Image:
    """The cut-out on an opaque colour, as RGB (no alpha channel left to carry)."""
    flat = Image.new("RGB", rgba.size, imaging.parse_colour(colour))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    icc = rgba.info.get("icc_profile")
    flat.info = {"icc_profile": icc} if icc else {}
    return flat
