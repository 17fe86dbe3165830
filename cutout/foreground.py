"""Foreground colour for soft edges, so no trace of the old background shows in fur.

A soft-edge pixel was photographed as a mix, I = a*F + (1 - a)*B, of the pet's
colour F and the background's B. Keeping I under alpha a prints the old
background as a fringe. This module replaces I by an estimate of F.

Method: blur-fusion (Forte & Pitie, "Approximate Fast Foreground Colour
Estimation", ICIP 2021; reference code github.com/Photoroom/fast-foreground-estimation):
local means F^, B^ of the subject's and the background's colours from box
blurs weighted by alpha, then a per-pixel correction
F = F^ + t*(I - t*F^ - (1 - t)*B^), twice (a wide radius, then a narrow one).
Two changes, both chosen by measurement (docs/performance.md, "Soft edges"):
the means are weighted by alpha squared, and t is read from the pixel's colour
where the means tell subject and background apart (a model's mask is too soft
far into the background; its alpha alone leaves a share of that background).

Near-opaque pixels (alpha above NEAR_OPAQUE) are taken as the pet's own
colour: the shift fades out linearly to none at alpha 1, since the model's mask
is a little soft inside the fur and unmixing there tinted it toward the
opposite hue.

What keeps it cheap at 12 MP: it runs at a working size of at most WORK_SIDE
(the radii are fractions of the long side, so they scale with the photo); the
colour shift F - I found there is smooth, so it is scaled up and added to the
full-size pixels, which keep the fur's own detail, in single uint8 passes.
Only soft pixels (0 < alpha < 255) change; opaque and clear pixels and the
alpha never do.
"""

from __future__ import annotations

import cv2
import numpy as np

WORK_SIDE = 512  # the estimate is computed at most this long side (a whole factor down)
# Box radii as fractions of the long side: 90 and 6 px on a 500 px photo, the paper's radii. Measured
# on the sample composites, 90 beat 46 and 23 (a wider window reaches past U^2-Net-p's blurry band).
WIDE_RADIUS = 0.18
NARROW_RADIUS = 0.012
# Unmixing alpha from colour (see _unmixing_alpha): trusted when the local foreground and background
# means are this far apart or more (RGB distance in 0..1 units).
COLOUR_SEPARATION = 0.1
NEAR_OPAQUE = 0.9  # above this alpha the shift fades out, to none at 1
_EPS = 1e-5


def estimate(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The subject's colour on every soft pixel of `rgb` (H x W x 3 uint8) under `alpha` (H x W uint8).

    Returns a new uint8 array; pixels with alpha 0 or 255 are copied unchanged."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[:2] != alpha.shape:
        raise ValueError(f"image {rgb.shape} and alpha {alpha.shape} do not match")
    soft = cv2.inRange(alpha, 1, 254)  # 255 where 0 < alpha < 255
    if not cv2.countNonZero(soft):
        return rgb.copy()
    height, width = alpha.shape
    factor = -(-max(height, width) // WORK_SIDE)  # a whole factor: INTER_AREA's fast path
    small = (-(-width // factor), -(-height // factor))
    if factor > 1:
        image_s = cv2.resize(rgb, small, interpolation=cv2.INTER_AREA)
        alpha_s = cv2.resize(alpha, small, interpolation=cv2.INTER_AREA)
    else:
        image_s, alpha_s = rgb, alpha
    image_s = image_s.astype(np.float32) / 255.0
    a = alpha_s.astype(np.float32)[..., None] / 255.0
    wide, narrow = (max(1, round(f * max(small))) for f in (WIDE_RADIUS, NARROW_RADIUS))
    fg_mean, bg_mean = _means(image_s, image_s, a, wide)
    fg = np.clip(_unmix(image_s, fg_mean, bg_mean, a), 0.0, 1.0)
    fg_mean, bg_mean = _means(fg, bg_mean, a, narrow)
    fg = np.clip(_unmix(image_s, fg_mean, bg_mean, a), 0.0, 1.0)
    # Near-opaque pixels are the pet's own colour: the model's mask is a little soft inside the fur,
    # and unmixing there tints it toward the opposite hue (pink on green). The shift fades out there.
    fade = np.clip((1.0 - a) / (1.0 - NEAR_OPAQUE), 0.0, 1.0)
    return _apply(rgb, (fg - image_s) * fade, soft)


def _apply(rgb: np.ndarray, shift: np.ndarray, soft: np.ndarray) -> np.ndarray:
    """`rgb` with the colour shift F - I (working size, float, -1..1) added on the soft pixels.

    The shift is smooth and the fur's detail is in I: on a large photo the shift is
    scaled up (bilinear) and added to the full-size pixels. It travels as uint8,
    128 + shift/2 in 1/255 steps (2/255 resolution, a quarter of int16's bytes), so
    the 12 MP passes (scale up, add, keep the hard pixels) are single uint8 ones."""
    half = np.clip(np.rint(shift * 127.5) + 128.0, 0, 255).astype(np.uint8)
    height, width = soft.shape
    if half.shape[:2] != soft.shape:
        half = cv2.resize(half, (width, height), interpolation=cv2.INTER_LINEAR)
    out = cv2.addWeighted(rgb, 1.0, half, 2.0, -256.0, dtype=cv2.CV_8U)  # saturates to 0..255
    cv2.copyTo(rgb, cv2.bitwise_not(soft), out)  # opaque and clear pixels as they were
    return out


def _means(fg: np.ndarray, bg: np.ndarray, a: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Local means of the foreground and background colours, weighted by alpha^2 and (1 - alpha)^2.

    Squared weights lean on confident pixels: a model's mask is too soft far
    into the background, and plain alpha weights mix that background into the
    foreground mean (measured: squared weights lowered the hue excess on every
    background colour)."""
    size = (2 * radius + 1, 2 * radius + 1)
    w_fg, w_bg = a * a, (1.0 - a) * (1.0 - a)
    fg_mean = cv2.blur(fg * w_fg, size) / (cv2.blur(w_fg[..., 0], size)[..., None] + _EPS)
    bg_mean = cv2.blur(bg * w_bg, size) / (cv2.blur(w_bg[..., 0], size)[..., None] + _EPS)
    return fg_mean, bg_mean


def _unmix(image: np.ndarray, fg_mean: np.ndarray, bg_mean: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Blur-fusion's correction, F = F^ + t*(I - t*F^ - (1 - t)*B^), with t from _unmixing_alpha."""
    t = _unmixing_alpha(image, fg_mean, bg_mean, a)
    return fg_mean + t * (image - t * fg_mean - (1.0 - t) * bg_mean)


def _unmixing_alpha(image, fg_mean, bg_mean, a):
    """How much of the pixel is subject, read from its colour where the local means tell subject and
    background apart: the position of I on the line from B^ to F^. Elsewhere the mask's alpha.

    Only the colour uses it; the output alpha stays the model's. Where the mask
    is soft over pure background, its alpha would keep a share a^2 of that
    background in the colour; the colour itself says "background" and the
    pixel takes the subject's local colour instead."""
    line = fg_mean - bg_mean
    length2 = _dot(line, line)
    along = np.clip(_dot(image - bg_mean, line) / (length2 + _EPS), 0.0, 1.0)
    trust = length2 / (length2 + COLOUR_SEPARATION ** 2)
    return trust * along + (1.0 - trust) * a


def _dot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-pixel dot product over the colour axis, kept as a trailing axis of 1."""
    return np.einsum("...c,...c->...", x, y)[..., None]
