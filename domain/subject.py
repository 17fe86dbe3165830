"""The subject gate: does a segmentation mask hold one clear subject to cut out?

A lawn, a wall, a blurred shot or a flat scene still gives a mask, because the
model always answers (U^2-Net-p even stretches its output to [0, 1] per image).
Four numbers over the mask tell such answers from a pet:

- `coverage`: share of the frame that is foreground (alpha >= 0.5). Almost none
  means nothing was found; almost all means nothing was separated.
- `border`: share of the frame's edge band (2 % of the short side) that is
  foreground. A pet may run out of the frame on a side or two; a subject that
  runs around the whole edge is the background itself.
- `uncertain`: share of the soft foreground (alpha > 0.1) with 0.1 < alpha < 0.9.
  A found subject has a thin soft rim; a mask made of haze is a guess.
- `largest`: share of the foreground in its largest 8-connected piece. One or two
  animals make one or two pieces; texture makes confetti.

Each number has a `weak` limit and a stricter `none` limit (RULE). Any `none`
limit crossed: no subject (the job fails with reason no_subject). Else any
`weak` limit crossed: a weak subject (the job ends done, flagged low_confidence).
Else clear. The limits were calibrated on the shared pet photos (24/24 clear,
with U^2-Net-p's masks and with the ground truth) and a non-pet set: see
docs/subject_gate.md and `python -m bench subject_gate`.

The mask is measured at most MEASURE_SIDE pixels on its long side: the numbers
are shares, so they do not depend on the photo's size, and a 4096-pixel mask
costs a few milliseconds. Plain numpy plus OpenCV (already used by imaging).
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass

import cv2
import numpy as np

MEASURE_SIDE = 512
BORDER_BAND = 0.02  # of the short side
FOREGROUND = 0.5
SOFT_LOW, SOFT_HIGH = 0.1, 0.9


class Verdict(str, enum.Enum):
    CLEAR = "clear"
    WEAK = "weak"    # done, flagged low_confidence
    NONE = "none"    # failed: no_subject


@dataclass(frozen=True)
class Measures:
    coverage: float
    border: float
    uncertain: float
    largest: float

    def as_dict(self) -> dict[str, float]:
        return {name: round(value, 4) for name, value in asdict(self).items()}


@dataclass(frozen=True)
class Limit:
    """`measure` must stay at or above `low` and at or below `high` (None: no bound)."""

    measure: str
    low: float | None = None
    high: float | None = None

    def crossed(self, measures: Measures) -> str | None:
        value = getattr(measures, self.measure)
        if self.low is not None and value < self.low:
            return f"{self.measure} {value:.3f} < {self.low:g}"
        if self.high is not None and value > self.high:
            return f"{self.measure} {value:.3f} > {self.high:g}"
        return None


@dataclass(frozen=True)
class Rule:
    none: tuple[Limit, ...]
    weak: tuple[Limit, ...]


# Calibration (docs/subject_gate.md): on the 24 pet photos U^2-Net-p gives coverage 0.077-0.524,
# border <= 0.32, uncertain <= 0.29, largest >= 0.57 (two dogs in one photo); each weak limit
# leaves room beyond that, each none limit sits where only subjectless masks were seen.
RULE = Rule(
    none=(Limit("coverage", low=0.005, high=0.97), Limit("border", high=0.9), Limit("uncertain", high=0.9),
          Limit("largest", low=0.15)),
    weak=(Limit("coverage", low=0.03, high=0.85), Limit("border", high=0.6), Limit("uncertain", high=0.4),
          Limit("largest", low=0.4)),
)


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    measures: Measures
    reasons: tuple[str, ...]  # the limits crossed at the verdict's level

    @property
    def detail(self) -> str:
        return "; ".join(self.reasons)


def _as_alpha(mask: np.ndarray) -> np.ndarray:
    """Float32 alpha in [0, 1], long side at most MEASURE_SIDE (area-averaged)."""
    alpha = np.asarray(mask)
    if alpha.ndim != 2 or alpha.size == 0:
        raise ValueError(f"a mask is one non-empty 2-D channel, not shape {alpha.shape}")
    alpha = alpha.astype(np.float32) / 255.0 if alpha.dtype == np.uint8 else alpha.astype(np.float32)
    height, width = alpha.shape
    scale = MEASURE_SIDE / max(height, width)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    return np.clip(alpha, 0.0, 1.0)


def measure(mask: np.ndarray) -> Measures:
    alpha = _as_alpha(mask)
    fg = alpha >= FOREGROUND
    band = max(1, round(BORDER_BAND * min(alpha.shape)))
    edge = np.ones_like(fg)
    edge[band:-band, band:-band] = False
    soft = alpha > SOFT_LOW
    area = int(fg.sum())
    largest = 0.0
    if area:
        count, _, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
        largest = float(stats[1:count, cv2.CC_STAT_AREA].max()) / area
    return Measures(
        coverage=area / fg.size,
        border=float(fg[edge].mean()),
        uncertain=float((soft & (alpha < SOFT_HIGH)).sum()) / max(1, int(soft.sum())),
        largest=largest,
    )


def judge(measures: Measures, rule: Rule = RULE) -> Judgement:
    for verdict, limits in ((Verdict.NONE, rule.none), (Verdict.WEAK, rule.weak)):
        crossed = tuple(why for limit in limits if (why := limit.crossed(measures)))
        if crossed:
            return Judgement(verdict, measures, crossed)
    return Judgement(Verdict.CLEAR, measures, ())


def assess(mask: np.ndarray, rule: Rule = RULE) -> Judgement:
    """The gate's answer for one mask (height x width, float in [0, 1] or uint8)."""
    return judge(measure(mask), rule)
