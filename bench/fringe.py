"""Composites with a known background and the fringe they leave: shared by bench/edges.py and its test.

A sample pet is cut along its ground-truth mask, softened by a Gaussian blur
(sigma 3 px), and laid over a saturated colour: C = s*P + (1 - s)*K. Soft-edge
pixels are those where the *output* alpha is in (0.1, 0.9), i.e. what a
customer sees half-transparent. There the visible colour V is compared with
the pet's own colour R.

The pet's own colour R at a soft pixel: the photo's pixel where the truth
mask is set; outside it, the photo's colour at the nearest pixel of the pet
(the ideal colour of a half-transparent pixel out there is the fur beside it,
not the old background the photo had there).

Background-hue excess, in 1/255 units: the mean over soft pixels and channels
of u_c * (V_c - R_c), where u_c = +1 on the channels where K is high and -1
where it is low. Green (0, 255, 0) counts G up and R, B down; white counts
every channel up; black every channel down. Positive: the old background shows;
negative: over-corrected toward the opposite hue. Both count.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from tests import samples

BACKGROUNDS = {"green": (0, 255, 0), "red": (255, 0, 0), "blue": (0, 0, 255), "black": (0, 0, 0),
               "white": (255, 255, 255)}
SOFTEN_SIGMA = 3.0
SOFT = (0.1, 0.9)
NEAR_OPAQUE = (0.9, 1.0)  # the model's mask is a little soft inside the pet too


def photo_and_mask(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The sample's RGB pixels (uint8) and its ground-truth mask (bool)."""
    photo = np.asarray(Image.open(samples.IMAGES / f"{name}.jpg").convert("RGB"))
    mask = np.asarray(Image.open(samples.SAMPLES / "masks" / f"{name}.png").convert("L")) >= 128
    return photo, mask


def own_colour(photo: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """R: the photo inside the pet, the nearest pet pixel's colour outside it."""
    from scipy import ndimage

    if not mask.any():
        return photo
    rows, cols = ndimage.distance_transform_edt(~mask, return_distances=False, return_indices=True)
    return photo[rows, cols]


def composite(photo: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), SOFTEN_SIGMA)[..., None]
    mixed = soft * photo.astype(np.float32) + (1.0 - soft) * np.array(colour, np.float32)
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", compress_level=1)
    return out.getvalue()


def visible_colour(output: bytes, alpha: np.ndarray, jpeg_background: tuple[int, int, int]) -> np.ndarray:
    """The colour a soft pixel shows: the RGB of a PNG/WebP; for a JPEG on a solid background,
    the colour unmixed from it with the cut-out's alpha, (J - (1 - a)*K) / a (a > 0.1 where measured)."""
    image = Image.open(io.BytesIO(output))
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    if image.format != "JPEG":
        return rgb
    a = np.maximum(alpha.astype(np.float32) / 255.0, 1e-3)[..., None]
    return (rgb - (1.0 - a) * np.array(jpeg_background, np.float32)) / a


def hue_excess(visible: np.ndarray, own: np.ndarray, alpha: np.ndarray, colour: tuple[int, int, int],
               band: tuple[float, float] = SOFT) -> float:
    """Mean background-hue excess (1/255 units) on the pixels of `alpha` (uint8) inside `band`
    (default: the soft edge; NEAR_OPAQUE looks for over-correction inside the pet)."""
    soft = (alpha > band[0] * 255) & (alpha < band[1] * 255)
    if not soft.any():
        return 0.0
    direction = np.where(np.array(colour) >= 128, 1.0, -1.0)
    return float(((visible[soft] - own[soft].astype(np.float32)) * direction).mean())


def iou(alpha: np.ndarray, mask: np.ndarray) -> float:
    cut = alpha >= 128
    return float((cut & mask).sum() / max((cut | mask).sum(), 1))
