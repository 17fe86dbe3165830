"""Traffic splits of a canary roll-out, as plain logic."""

from __future__ import annotations

from adapters.cloud_run import TrafficEntry


def without_tag(split: list[TrafficEntry], tag: str) -> list[TrafficEntry]:
    """The split with `tag` freed (a tag names one revision), dropping entries left empty."""
    out = []
    for entry in split:
        if entry.tag == tag:
            entry = TrafficEntry(entry.revision, entry.percent)
        if entry.percent or entry.tag:
            out.append(entry)
    return out


def shifted(before: list[TrafficEntry], revision: str, percent: int, tag: str) -> list[TrafficEntry]:
    """`percent` to the new revision (under `tag`); the rest to the previous split, in
    proportion (largest remainder, so the percents add up to exactly 100)."""
    if not 0 <= percent <= 100:
        raise ValueError(f"percent {percent} is not between 0 and 100")
    served = [e for e in before if e.percent]
    total = sum(e.percent for e in served) or 1
    shares = [e.percent * (100 - percent) / total for e in served]
    floors = [int(s) for s in shares]
    by_remainder = sorted(range(len(served)), key=lambda i: shares[i] - floors[i], reverse=True)
    for i in by_remainder[:100 - percent - sum(floors)]:
        floors[i] += 1
    out = [TrafficEntry(e.revision, f, e.tag) for e, f in zip(served, floors) if f or e.tag]
    out += [e for e in before if not e.percent and e.tag]  # other tags keep their URLs
    return [*out, TrafficEntry(revision, percent, tag)]


def same_split(a: list[TrafficEntry], b: list[TrafficEntry]) -> bool:
    key = lambda e: (e.revision, e.percent, e.tag)  # noqa: E731
    return sorted(map(key, a)) == sorted(map(key, b))
