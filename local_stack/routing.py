"""Traffic splitting and latency figures for the local Cloud Run router."""

from __future__ import annotations

import math


class Split:
    """Smooth weighted round robin (as nginx does): over every 100 requests each
    revision gets exactly its percent, spread evenly, so a 10 % canary sees every
    tenth request instead of a random share."""

    def __init__(self, weights: list[tuple[str, int]]):
        merged: dict[str, int] = {}
        for name, percent in weights:
            if percent > 0 and name:
                merged[name] = merged.get(name, 0) + percent
        self.weights = merged
        self.current = {name: 0 for name in merged}

    def next(self) -> str | None:
        if not self.weights:
            return None
        total = sum(self.weights.values())
        for name, weight in self.weights.items():
            self.current[name] += weight
        chosen = max(self.current, key=self.current.get)
        self.current[chosen] -= total
        return chosen


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]
