"""What decoding an image will cost, estimated from its structure, against a budget.

The header pixel cap does not bound decoding work: libwebp decodes at full size into
several canvases, a progressive JPEG costs a pass over every block per scan, and
Pillow holds RGB as 4 bytes a pixel. So each format gets a cost from its probe
(domain/image_probe.py), and the budget comes from the deployed limits (settings.py:
`intake_decode_budget`, `gpu_decode_budget`), never from a number in this module.

The rates below are the decoders' own (Pillow 13 with libjpeg-turbo 3, libwebp 1.6,
zlib), measured on this project's 2-core machines with `python -m bench hostile` and
rounded up; they are properties of the code, not of the deployment.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.image_probe import Probe

# Peak bytes a pixel over the process's baseline, decode + orient + RGB + resize (the GPU path).
# Pillow holds RGB(A) as 4 B/px, and a resize to max_side holds its horizontal pass and its
# output beside the source: up to 12 B/px when the source is just over max_side (159 MiB
# for a 4500x3375 JPEG cut to 4096), less when it is far over (327 MiB for 48 MP). An RGBA
# resize also premultiplies (two more copies), and the alpha is split off afterwards.
# WebP: Pillow goes through libwebp's animation decoder, which keeps full RGBA canvases
# while the file is open: 16 B/px (980 MiB for a blank 8000x8000, 737 MiB for 48 MP), 22
# with alpha just over max_side.
WEBP_BYTES_PER_PIXEL = {False: 18, True: 26}  # by alpha
# PNG: 7 B/px for 64 MP RGB cut to 4096 (435 MiB), 15 with alpha just over max_side;
# 16-bit grey goes through float64 to keep its range.
PNG_BYTES_PER_PIXEL = {False: 14, True: 20}
PNG_GREY16_BYTES_PER_PIXEL = 26
# JPEG: per decoded pixel (after draft scaling); a progressive or multi-scan file also
# holds every DCT coefficient (64 x 2 bytes a block) until the last scan.
JPEG_BYTES_PER_OUTPUT_PIXEL = 12
JPEG_BYTES_PER_BLOCK = 128
# CPU, nanoseconds: a scan is one pass over its blocks (a repeated AC scan at 48 MP:
# 22 ms each, so 6.8 s for 300), then the output pass per pixel.
JPEG_NS_PER_BLOCK_SCAN = 30
NS_PER_OUTPUT_PIXEL = {"jpeg": 25, "png": 30, "webp": 25, "webp-lossless": 40}
# Intake's own check (no full decode): inflating PNG data (ns a byte).
INFLATE_NS_PER_BYTE = 2
MIB = 1024 * 1024


@dataclass(frozen=True)
class Budget:
    """The most one decode may add to its process, and the output size it aims at."""

    memory_bytes: int
    cpu_seconds: float
    max_pixels: int
    max_side: int  # longest side the decode keeps (JPEG draft scaling aims at it)


@dataclass(frozen=True)
class Cost:
    memory_bytes: int
    cpu_seconds: float


class OverBudget(Exception):
    """`reason` is a stable code (domain/uploads.py lists them)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def jpeg_draft_scale(width: int, height: int, target_side: int) -> int:
    """The denominator libjpeg will scale by when asked for at least `target_side`: 1, 2, 4 or 8.
    Pillow's draft() takes the largest reduction that still covers the requested size."""
    longest = max(width, height)
    for scale in (8, 4, 2):
        if -(-longest // scale) >= target_side:
            return scale
    return 1


def full_decode_cost(probe: Probe, max_side: int) -> Cost:
    """Decode to an upright RGB image of at most `max_side` (gpu_service/imaging.decode)."""
    if probe.kind == "webp":
        rate = NS_PER_OUTPUT_PIXEL["webp-lossless" if probe.lossless else "webp"]
        return Cost(probe.pixels * WEBP_BYTES_PER_PIXEL[probe.alpha], probe.pixels * rate * 1e-9)
    if probe.kind == "png":
        per_pixel = PNG_GREY16_BYTES_PER_PIXEL if probe.grey16 else PNG_BYTES_PER_PIXEL[probe.alpha]
        return Cost(probe.pixels * per_pixel, probe.pixels * NS_PER_OUTPUT_PIXEL["png"] * 1e-9)
    scale = jpeg_draft_scale(probe.width, probe.height, max_side)
    output = -(-probe.width // scale) * -(-probe.height // scale)
    return Cost(output * JPEG_BYTES_PER_OUTPUT_PIXEL + _coefficients(probe),
                _scan_seconds(probe) + output * NS_PER_OUTPUT_PIXEL["jpeg"] * 1e-9)


def check_cost(probe: Probe) -> Cost:
    """Intake's check (domain/uploads.inspect): JPEG decoded at 1/8 scale, PNG data inflated
    and thrown away, WebP by structure only."""
    if probe.kind == "jpeg":
        output = -(-probe.width // 8) * -(-probe.height // 8)
        return Cost(output * JPEG_BYTES_PER_OUTPUT_PIXEL + _coefficients(probe),
                    _scan_seconds(probe) + output * NS_PER_OUTPUT_PIXEL["jpeg"] * 1e-9)
    if probe.kind == "png":
        return Cost(2 * MIB, probe.raw_bytes * INFLATE_NS_PER_BYTE * 1e-9)
    return Cost(0, 0.0)


def enforce(probe: Probe, cost: Cost, budget: Budget, where: str) -> None:
    """Raise OverBudget, with the reason a shopper can act on, before any pixel is decoded."""
    if probe.pixels > budget.max_pixels:
        raise OverBudget("too_many_pixels", f"{probe.width}x{probe.height} is over the {budget.max_pixels}-pixel cap")
    if probe.frames > 1:
        raise OverBudget("animated_image", f"{probe.frames} frames; a print needs one still photo")
    if cost.cpu_seconds > budget.cpu_seconds:
        reason = "too_many_scans" if probe.kind == "jpeg" and probe.scans > 1 else "over_cpu_budget"
        raise OverBudget(reason, f"{where}: about {cost.cpu_seconds:.1f} CPU s to decode ({probe.scans} scans), "
                                 f"over the {budget.cpu_seconds:g} s budget")
    if cost.memory_bytes > budget.memory_bytes:
        raise OverBudget("over_memory_budget", f"{where}: about {cost.memory_bytes // MIB} MiB to decode this "
                                               f"{probe.kind}, over the {budget.memory_bytes // MIB} MiB budget")


def _coefficients(probe: Probe) -> int:
    # A single-scan baseline JPEG streams row by row; anything else buffers the whole image.
    return probe.blocks * JPEG_BYTES_PER_BLOCK if probe.progressive or probe.scans > 1 else 0


def _scan_seconds(probe: Probe) -> float:
    return probe.scans * probe.blocks * JPEG_NS_PER_BLOCK_SCAN * 1e-9
