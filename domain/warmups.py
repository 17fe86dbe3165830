"""What the warm-ups of a day did, from two lists of times; plain arithmetic, no I/O.

- instance time: a warm-up starts (or keeps) an instance that nobody else pays for
  until the first upload after it, a later warm-up that takes over, or Cloud Run's
  idle scale-down, whichever comes first (`idle_seconds`: 15 minutes, the assumption
  costsim/simulator.py makes too: Cloud Run scales a revision without traffic in to zero
  but its docs give no delay for it;
  https://cloud.google.com/run/docs/about-instance-autoscaling)
- cold starts saved: uploads that arrived within `warm_for` of a warm-up (the window
  the policy itself counts an instance as warm for).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class WarmupFigures:
    per_hour: dict[str, int]  # "HH:00" in the store's time zone -> warm-ups sent
    warmups: int
    instance_seconds: float
    uploads_at_warm_service: int

    def as_dict(self) -> dict:
        return {"warmups": self.warmups, "per_hour": self.per_hour,
                "instance_seconds": round(self.instance_seconds, 1),
                "instance_hours": round(self.instance_seconds / 3600, 3),
                "uploads_at_warm_service": self.uploads_at_warm_service}


def figures(warmups: list[datetime], uploads: list[datetime], *, warm_for: timedelta,
            idle: timedelta = timedelta(minutes=15), tz=None, day_start: datetime | None = None) -> WarmupFigures:
    """Warm-ups before `day_start` only count for the uploads they met (the day before's)."""
    warmups, uploads = sorted(warmups), sorted(uploads)
    seconds = 0.0
    today = [w for w in warmups if day_start is None or w >= day_start]
    for i, at in enumerate(warmups):
        if day_start is not None and at < day_start:
            continue
        ends = [at + idle]
        ends += [u for u in uploads if u >= at][:1]
        ends += warmups[i + 1:i + 2]
        seconds += (min(ends) - at).total_seconds()
    saved = sum(1 for u in uploads if any(w <= u < w + warm_for for w in warmups))
    hours = Counter((w.astimezone(tz) if tz else w).strftime("%H:00") for w in today)
    return WarmupFigures(dict(sorted(hours.items())), len(today), seconds, saved)
