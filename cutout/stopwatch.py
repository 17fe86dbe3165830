"""Seconds per stage of one job, in order, for its record and its metrics."""

from __future__ import annotations

import time
from collections.abc import Callable


class Stopwatch:
    """`lap(stage)` closes the stage that began at the previous lap (or at the start) and
    records its seconds in `timings`; `after_lap(stage)` runs next, e.g. to stop a job whose
    deadline passed."""

    def __init__(self, after_lap: Callable[[str], None] | None = None):
        self.timings: dict[str, float] = {}
        self._after_lap = after_lap
        self._clock = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(now - self._clock, 4)
        self._clock = now
        if self._after_lap is not None:
            self._after_lap(stage)
