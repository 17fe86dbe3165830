"""Upload traffic: a generated store day or season, or a trace file of timestamps.

The shape is the store's: about 3,000 images a day, an evening peak 18:00-22:00
New York time, and a holiday season (Nov 15 - Dec 31) with more of everything.
Times are Unix seconds (UTC); hours of the day are New York's.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

STORE_TZ = ZoneInfo("America/New_York")
PEAK_HOURS = (18, 22)  # the store's evening peak, local [start, end)
HOLIDAY = ((11, 15), (12, 31))

# Share of a day's uploads in each local hour (normalised below): quiet nights,
# steady shopping hours, and the evening peak (about 40 % of the day in 4 hours).
HOURLY_SHAPE = np.array([
    1.2, 0.6, 0.4, 0.3, 0.3, 0.5, 1.0, 1.8,      # 00-07
    2.6, 3.4, 3.8, 4.0, 4.4, 4.2, 4.0, 4.0,      # 08-15
    4.2, 5.0, 8.5, 10.5, 11.0, 9.0, 5.0, 2.6,    # 16-23
])
HOURLY_SHAPE = HOURLY_SHAPE / HOURLY_SHAPE.sum()


def is_holiday(day: date) -> bool:
    return HOLIDAY[0] <= (day.month, day.day) <= HOLIDAY[1]


def local_midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=STORE_TZ).timestamp()


def generate(start: date, days: int, *, per_day: float = 3000, holiday_multiplier: float = 2.5,
             seed: int = 0) -> np.ndarray:
    """Sorted upload times: a Poisson process per local hour, shaped by HOURLY_SHAPE."""
    rng = np.random.default_rng(seed)
    out = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        scale = per_day * (holiday_multiplier if is_holiday(day) else 1.0)
        for hour, share in enumerate(HOURLY_SHAPE):
            begin = datetime(day.year, day.month, day.day, hour, tzinfo=STORE_TZ).timestamp()
            n = rng.poisson(scale * share)
            out.append(begin + rng.random(n) * 3600.0)
    return np.sort(np.concatenate(out)) if out else np.empty(0)


def load_trace(path: Path | str) -> np.ndarray:
    """One upload a line: Unix seconds or an ISO 8601 time with its offset (a naive
    time is taken as UTC). The first comma-separated field is read; blank lines,
    '#' comments and a header line are skipped."""
    times = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        field = line.split(",")[0].strip()
        if not field or field.startswith("#"):
            continue
        try:
            times.append(float(field))
            continue
        except ValueError:
            pass
        try:
            when = datetime.fromisoformat(field.replace("Z", "+00:00"))
        except ValueError:
            if number == 1:
                continue  # a header
            raise ValueError(f"{path}:{number}: {field!r} is neither Unix seconds nor ISO 8601") from None
        times.append((when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp())
    if not times:
        raise ValueError(f"{path}: no upload times")
    return np.sort(np.array(times, dtype=float))


def local_hours(times: np.ndarray) -> np.ndarray:
    """Each time's New York hour of the day (0-23)."""
    return np.array([datetime.fromtimestamp(t, STORE_TZ).hour for t in times], dtype=np.int8)


def in_peak(times: np.ndarray) -> np.ndarray:
    hours = local_hours(times)
    return (hours >= PEAK_HOURS[0]) & (hours < PEAK_HOURS[1])


def day_span(times: np.ndarray) -> tuple[float, float]:
    """From the local midnight before the first upload to the one after the last."""
    first = datetime.fromtimestamp(times[0], STORE_TZ).date()
    last = datetime.fromtimestamp(times[-1], STORE_TZ).date()
    return local_midnight(first), local_midnight(last + timedelta(days=1))
