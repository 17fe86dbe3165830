"""Imaging around the model, in data-flow order: decode -> orient -> mask -> cut out -> encode.

PIL and numpy only. The mask comes from an engine; everything else is here.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

OUTPUT_TYPES = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}


class BadImage(ValueError):
    """The bytes are not an image we can process: a permanent failure."""


def decode(data: bytes, max_pixels: int = 64_000_000) -> Image.Image:
    """Decode with EXIF orientation applied, as RGB (colour profile kept in info)."""
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > max_pixels:
            raise BadImage(f"{image.width}x{image.height} is over {max_pixels} pixels")
        image.load()
        image = ImageOps.exif_transpose(image)
    except BadImage:
        raise
    except Exception as exc:  # Pillow raises many types for bad data
        raise BadImage(str(exc)) from exc
    icc = image.info.get("icc_profile")
    rgb = image.convert("RGB")
    if icc:
        rgb.info["icc_profile"] = icc
    return rgb


def cut_out(image: Image.Image, mask: np.ndarray, effect: str = "none") -> Image.Image:
    """The subject on a transparent background."""
    alpha = Image.fromarray(np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    subject = ImageOps.grayscale(image).convert("RGB") if effect == "blackwhite" else image
    rgba = subject.convert("RGBA")
    rgba.putalpha(alpha)
    if icc := image.info.get("icc_profile"):
        rgba.info["icc_profile"] = icc
    return rgba


def encode(rgba: Image.Image, output_format: str = "png", max_side: int = 4096, background: str = "#ffffff") -> bytes:
    """PNG or WebP with alpha, or JPEG on a solid background. No EXIF is written."""
    if max(rgba.size) > max_side:
        rgba = rgba.copy()
        rgba.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    icc = rgba.info.get("icc_profile")
    extra = {"icc_profile": icc} if icc else {}
    out = io.BytesIO()
    if output_format == "png":
        rgba.save(out, "PNG", optimize=False, compress_level=6, **extra)
    elif output_format == "webp":
        rgba.save(out, "WEBP", quality=90, method=4, exact=False, **extra)
    elif output_format == "jpeg":
        flat = Image.new("RGB", rgba.size, background)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        flat.save(out, "JPEG", quality=92, **extra)
    else:
        raise ValueError(f"unknown output format {output_format!r}")
    return out.getvalue()
