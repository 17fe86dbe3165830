"""Photos without a pet, for calibrating the subject gate (domain/subject.py): made here or
shipped with scikit-image (its bundled files only: nothing is downloaded).

`CORPUS` maps a name to (kind, maker); every maker returns an RGB image.
Kinds:
- `texture`, `flat`, `blurred`: no subject at all; the gate should say none or weak;
- `photo`: scikit-image's non-animal photos, some with a clear object in them (a cup,
  a rocket, a person): the gate judges subjects, not species, so these may pass.
Its cat (chelsea) is a pet and stays out.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageFilter

SIZE = (640, 480)
SUBJECTLESS = ("texture", "flat", "blurred")


def _rgb(array: np.ndarray) -> Image.Image:
    array = np.asarray(array)
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return Image.fromarray(array[..., :3])


@lru_cache
def skimage_photo(name: str) -> Image.Image:
    from skimage import data

    if name == "motorcycle":
        return _rgb(data.stereo_motorcycle()[0])
    return _rgb(getattr(data, name)())


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def noise() -> Image.Image:
    return _rgb(_rng(0).integers(0, 256, (SIZE[1], SIZE[0], 3)))


def plaster_wall() -> Image.Image:
    """A painted wall: one colour with soft, low-contrast blotches."""
    blotches = Image.fromarray(_rng(1).normal(0, 1, (30, 40)).astype(np.float32)).resize(SIZE, Image.Resampling.BICUBIC)
    shade = 215 + 8 * np.asarray(blotches)[..., None] + _rng(2).normal(0, 2, (SIZE[1], SIZE[0], 1))
    return _rgb(shade * np.array([1.0, 0.97, 0.9]))


def lawn() -> Image.Image:
    """scikit-image's grass, tinted green, at a phone photo's aspect."""
    grey = np.asarray(skimage_photo("grass").convert("L").resize(SIZE), np.float32)
    return _rgb(grey[..., None] * np.array([0.45, 0.85, 0.35]))


def flat(colour) -> Image.Image:
    return Image.new("RGB", SIZE, colour)


def gradient() -> Image.Image:
    return _rgb(np.linspace(40, 230, SIZE[0])[None, :, None] * np.ones((SIZE[1], 1, 3)))


def horizon() -> Image.Image:
    """Sky above, field below: a flat scene in two halves."""
    image = np.empty((SIZE[1], SIZE[0], 3), np.float32)
    image[: SIZE[1] // 2] = (150, 190, 235)
    image[SIZE[1] // 2:] = (90, 140, 60)
    return _rgb(image + _rng(3).normal(0, 3, image.shape))


def blurred(name: str):
    def make() -> Image.Image:
        image = skimage_photo(name)
        return image.filter(ImageFilter.GaussianBlur(max(image.size) / 40))
    return make


def _photo(name: str):
    return lambda: skimage_photo(name)


CORPUS = {
    **{name: ("texture", _photo(name)) for name in ("brick", "grass", "gravel")},
    "noise": ("texture", noise),
    "plaster wall": ("texture", plaster_wall),
    "lawn": ("texture", lawn),
    "flat grey": ("flat", lambda: flat((128, 128, 128))),
    "flat white": ("flat", lambda: flat((250, 250, 250))),
    "flat beige": ("flat", lambda: flat((220, 200, 170))),
    "gradient": ("flat", gradient),
    "horizon": ("flat", horizon),
    **{f"blurred {name}": ("blurred", blurred(name))
       for name in ("brick", "grass", "gravel", "coffee", "rocket", "astronaut", "camera")},
    **{name: ("photo", _photo(name))
       for name in ("rocket", "coffee", "camera", "astronaut", "moon", "page", "text", "hubble_deep_field", "retina",
                    "clock", "colorwheel", "checkerboard", "logo", "coins", "cell", "immunohistochemistry",
                    "microaneurysms", "shepp_logan_phantom", "motorcycle")},
}
