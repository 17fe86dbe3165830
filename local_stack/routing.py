"""Traffic splitting for the local Cloud Run router (its latency percentiles are domain.kpi.percentile)."""

from __future__ import annotations


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


