"""Variants of a done job's cut-out, rendered from its stored mask: the spec, its rules, its name.

A spec says how the shopper wants the cut-out: format, effect, background, crop to the
subject, longest side. Strict on purpose (unknown fields, wrong types and values outside
the caps are refused), and canonical: every default is filled in and every colour written
one way before hashing, so two ways of asking for the same picture name the same object,
`variants/{job_id}/{hash}.{ext}`, written once (idempotent by spec).

The background rule: omitted means transparent for PNG and WebP and white for JPEG, which
has no alpha; an explicit `transparent` JPEG is refused rather than silently flattened.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Bumped whenever the rendering changes its pixels: the hash moves, so an old object is never
# served for a spec that would now render differently.
RENDER_VERSION = 1
MEDIA_TYPES = {"png": "image/png", "webp": "image/webp", "jpeg": "image/jpeg"}
EXTENSIONS = {"png": "png", "webp": "webp", "jpeg": "jpg"}
MIN_SIDE = 32
MAX_MARGIN = 0.5
# A pixel belongs to the subject's box when its alpha is above this (of 255): the faint
# haze a model leaves around a pet does not stretch the crop.
CROP_ALPHA_THRESHOLD = 32
_HEX = re.compile(r"^#[0-9a-f]{6}$")
_NAMED = {"white": "#ffffff"}
JOB_ID = re.compile(r"^[0-9a-f]{32}$")


class BadSpec(ValueError):
    """A spec that is well formed but asks for something the rules refuse."""


class Crop(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Added on every side, as a share of the subject box's longer side.
    margin: float = Field(0.05, ge=0.0, le=MAX_MARGIN)


class VariantSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    format: Literal["png", "webp", "jpeg"] = "png"
    effect: Literal["none", "blackwhite"] = "none"
    # "transparent", "white" or "#rrggbb"; None: the format's default (see the module docstring).
    background: str | None = Field(None, max_length=16)
    crop: Crop | None = None
    max_side: int | None = Field(None, ge=MIN_SIDE)

    @field_validator("background")
    @classmethod
    def _known_background(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        if value == "transparent" or value in _NAMED or _HEX.match(value):
            return value
        raise ValueError("transparent, white or a #rrggbb colour")


class VariantRequest(BaseModel):
    """The variant function's body."""

    model_config = ConfigDict(extra="forbid")
    job_id: str = Field(max_length=64)
    session_id: str = Field("", max_length=128, pattern=r"^[A-Za-z0-9_\-.]*$")
    spec: VariantSpec = Field(default_factory=VariantSpec)


def canonical(spec: VariantSpec, max_side_cap: int) -> dict:
    """The spec with every default resolved, as plain data: what is hashed and what is rendered.
    Raises BadSpec for a JPEG asked to be transparent or a side over the deployed cap."""
    background = spec.background or ("#ffffff" if spec.format == "jpeg" else "transparent")
    background = _NAMED.get(background, background)
    if spec.format == "jpeg" and background == "transparent":
        raise BadSpec("jpeg has no transparency: ask for white or a #rrggbb background, or png/webp")
    max_side = spec.max_side or max_side_cap
    if max_side > max_side_cap:
        raise BadSpec(f"max_side {max_side} is over the {max_side_cap} px cap")
    return {"version": RENDER_VERSION, "format": spec.format, "effect": spec.effect, "background": background,
            "crop_margin": None if spec.crop is None else round(spec.crop.margin, 4), "max_side": max_side}


def spec_hash(spec: dict) -> str:
    """128 bits of SHA-256 over the canonical spec's sorted JSON."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def object_name(job_id: str, spec: dict) -> str:
    return f"variants/{job_id}/{spec_hash(spec)}.{EXTENSIONS[spec['format']]}"


def crop_box(box: tuple[int, int, int, int] | None, size: tuple[int, int], margin: float
             ) -> tuple[int, int, int, int]:
    """The subject's box (left, top, right, bottom; None: no subject above the threshold) grown
    by `margin` of its longer side on every side, kept inside the image. No subject: the whole image."""
    width, height = size
    if box is None:
        return 0, 0, width, height
    left, top, right, bottom = box
    pad = round(margin * max(right - left, bottom - top))
    return max(0, left - pad), max(0, top - pad), min(width, right + pad), min(height, bottom + pad)


def admit_spec(job, key: str, cap: int) -> bool:
    """Counts spec `key` on `job` (a Job's variant_specs) unless `cap` distinct ones are already
    counted; returns whether it changed the job (a Mutation, for JobRepository.update)."""
    if key in job.variant_specs or len(job.variant_specs) >= cap:
        return False
    job.variant_specs.append(key)
    return True
