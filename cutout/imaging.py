"""Imaging around the model, in data-flow order: decode -> orient -> mask -> cut out -> encode.

PIL and numpy (and OpenCV in foreground.py). The mask comes from an engine; everything else is here.
What goes out carries the colour profile and nothing else of the input's
metadata: EXIF and XMP can hold the GPS position of the customer's home.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageChops, ImageCms, ImageColor, ImageOps

from cutout import foreground, masks
from domain.decode_budget import Budget, OverBudget, enforce, full_decode_cost
from domain.image_probe import Malformed, probe
from domain.uploads import sniff
from settings import get_settings

OUTPUT_TYPES = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
# Intake checks magic bytes too; decoding only these keeps every other decoder out of reach.
INPUT_FORMATS = ("JPEG", "PNG", "WEBP")
# The input's own transparency, kept beside the RGB image the model sees (see cut_out).
SOURCE_ALPHA = "cutout_source_alpha"
PNG_COMPRESS_LEVEL = 1  # zlib 1 writes a 12 MP cut-out 2-4x faster than the default 6, for ~25 % more bytes
WEBP_METHOD = 2  # method 4 (the default) takes twice as long for 4 % fewer bytes

_SRGB = ImageCms.createProfile("sRGB")
_SRGB_BYTES = ImageCms.ImageCmsProfile(_SRGB).tobytes()


class BadImage(ValueError):
    """The bytes are not an image we can process: a permanent failure. `reason` is the code
    the job ends with (an over-budget one from domain/decode_budget.py, else bad_image)."""

    def __init__(self, detail: str, reason: str = "bad_image"):
        super().__init__(detail)
        self.reason = reason


def decode(data: bytes, budget: Budget | None = None) -> Image.Image:
    """Decode to RGB, upright (EXIF orientation applied), longest side at most `budget.max_side`.

    The service does not trust intake: the file's structure is read and the decode's
    memory and CPU are checked against `budget` (default: settings' gpu_decode_budget,
    one request's share of the service) before any pixel is decoded. The colour profile
    travels in `info["icc_profile"]`; an alpha channel already in the input travels in
    `info[SOURCE_ALPHA]`.
    """
    budget = budget or get_settings().gpu_decode_budget
    max_side = budget.max_side
    kind = sniff(data[:16])
    if kind is None:
        raise BadImage("cannot decode image: not a JPEG, PNG or WebP")
    try:
        found = probe(data, kind)
        enforce(found, full_decode_cost(found, max_side), budget, "GPU decode")
    except OverBudget as over:
        raise BadImage(over.detail, reason=over.reason) from over
    except Malformed as bad:
        raise BadImage(f"cannot decode image: {bad}") from bad
    try:
        image = Image.open(io.BytesIO(data), formats=INPUT_FORMATS)
        if (image.width, image.height) != (found.width, found.height):
            raise BadImage(f"{image.width}x{image.height} is not the {found.width}x{found.height} its structure says")
        if image.format in ("JPEG", "MPO"):  # let libjpeg skip what the size cap would throw away
            image.draft(image.mode, _capped((image.width, image.height), max_side))
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
        if max(image.size) > max_side:
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
        return _to_rgb(image)
    except BadImage:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own, coarser cap
        raise BadImage(f"over the pixel cap: {exc}", reason="too_many_pixels") from exc
    except Exception as exc:  # Pillow raises many types for bad data
        raise BadImage(f"cannot decode image: {exc}") from exc


def _capped(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any mode Pillow gives (1, P, L, LA, PA, RGBA, CMYK, I;16, I, F...) to RGB with clean metadata."""
    icc = image.info.get("icc_profile")
    alpha = None
    if image.mode in ("P", "PA") or (image.mode in ("L", "RGB") and "transparency" in image.info):
        image = image.convert("RGBA")
    if image.mode in ("LA", "RGBA", "La", "RGBa"):
        alpha = image.getchannel("A")
        if alpha.getextrema() == (255, 255):
            alpha = None
        image = image.convert(image.mode[0] if image.mode[0] == "L" else "RGB")
    if image.mode.startswith("I") or image.mode == "F":
        # Pillow clips 16-bit values to 255 on convert("L"); scale the range instead.
        wide = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I") else max(float(wide.max()), 1.0)
        image = Image.fromarray(np.clip(wide * (255.0 / peak) + 0.5, 0, 255).astype(np.uint8), "L")
    rgb, icc = _to_srgb_if_needed(image, icc)
    rgb.info = {"icc_profile": icc} if icc else {}
    if alpha is not None:
        rgb.info[SOURCE_ALPHA] = alpha
    return rgb


def _to_srgb_if_needed(image: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """An RGB profile is kept as is; a CMYK or grey one cannot describe RGB pixels, so convert to sRGB."""
    if icc:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            space = profile.profile.xcolor_space.strip()
        except (OSError, ImageCms.PyCMSError):
            icc, space = None, ""  # a broken profile is dropped, not fatal
        if icc and space != "RGB":
            try:
                converted = ImageCms.profileToProfile(image, profile, _SRGB, outputMode="RGB")
                return converted, _SRGB_BYTES
            except ImageCms.PyCMSError:
                icc = None
    return (image if image.mode == "RGB" else image.convert("RGB")), icc


def cut_out(image: Image.Image, mask: np.ndarray, effect: str = "none",
            estimate_foreground: bool = True) -> Image.Image:
    """The subject on a transparent background; an alpha already in the input is kept (multiplied in).

    Soft-edge pixels get the subject's estimated colour instead of the photo's
    (cutout/foreground.py), so the old background does not show through in
    fur on any output format. The alpha is never changed. This runs on the
    request's thread, never on the model's batcher thread. `mask` is the model's float
    mask in [0, 1], or one already quantised to uint8 (masks.quantise, a stored mask)."""
    alpha = Image.fromarray(mask if mask.dtype == np.uint8 else masks.quantise(mask), "L")
    if alpha.size != image.size:
        raise ValueError(f"mask {alpha.size} does not match image {image.size}")
    if (source_alpha := image.info.get(SOURCE_ALPHA)) is not None:
        alpha = ImageChops.multiply(alpha, source_alpha)
    if effect == "blackwhite":
        subject = ImageOps.grayscale(image).convert("RGB")
    elif effect == "none":
        subject = image
    else:
        raise ValueError(f"unknown effect {effect!r}")
    if estimate_foreground:
        subject = Image.fromarray(foreground.estimate(np.asarray(subject), np.asarray(alpha)), "RGB")
    # Fully transparent pixels carry no colour: the background must not ride along
    # hidden in the file (and zeros compress several times better).
    visible = alpha.point(lambda v: 255 if v else 0)
    rgba = Image.composite(subject, Image.new("RGB", subject.size, 0), visible)
    rgba.putalpha(alpha)
    icc = image.info.get("icc_profile")
    rgba.info = {"icc_profile": icc} if icc else {}
    return rgba


def encode(rgba: Image.Image, output_format: str = "png", max_side: int | None = None,
           background: str = "#ffffff") -> bytes:
    """PNG or WebP with alpha, or JPEG on a solid background (a colour name or hex). No EXIF or XMP is written."""
    max_side = max_side or get_settings().output_max_side
    if max(rgba.size) > max_side:
        rgba = rgba.copy()
        rgba.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    icc = rgba.info.get("icc_profile")
    extra = {"icc_profile": icc} if icc else {}
    out = io.BytesIO()
    if output_format == "png":
        _clean(rgba).save(out, "PNG", compress_level=PNG_COMPRESS_LEVEL, **extra)
    elif output_format == "webp":
        # Lossy colour, lossless alpha: about a third of the PNG's bytes.
        _clean(rgba).save(out, "WEBP", quality=90, method=WEBP_METHOD, alpha_quality=100, **extra)
    elif output_format == "jpeg":
        flat = Image.new("RGB", rgba.size, parse_colour(background))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        flat.save(out, "JPEG", quality=92, **extra)
    else:
        raise ValueError(f"unknown output format {output_format!r}")
    return out.getvalue()


def compose(image: Image.Image, mask: np.ndarray, effect: str = "none", output_format: str = "png",
            max_side: int | None = None) -> bytes:
    """A job's cut-out from its decoded photo and mask: cut out, then encode. The one place the
    worker, the smoke route, a cache hit (functions/render.py) and the benchmarks make it, so
    they cannot drift apart; variants add their crop and background in cutout/variant_render.py."""
    return encode(cut_out(image, mask, effect), output_format, max_side)


def parse_colour(value: str) -> tuple[int, int, int]:
    """'white', '#fff' or '#1e90ff' to RGB; a clear ValueError otherwise."""
    try:
        return ImageColor.getrgb(value)[:3]
    except ValueError as exc:
        raise ValueError(f"background {value!r} is not a colour name or hex code") from exc


def _clean(image: Image.Image) -> Image.Image:
    """Pillow writes some info keys (xmp, exif, dpi...) on its own: keep none of them."""
    if set(image.info) - {"icc_profile"}:
        image = image.copy()
        image.info = {k: v for k, v in image.info.items() if k == "icc_profile"}
    return image
