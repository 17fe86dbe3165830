"""Scaling windows as data: which min/max instances and warm-up rule hold at a time.

The windows live in schedules.yaml, in the store's time zone; code only reads
them. `window_at(when)` answers for the shipped schedule; `Schedule` objects
let the simulator try others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

SCHEDULES_FILE = Path(__file__).with_name("schedules.yaml")


class ScheduleError(ValueError):
    """The schedule data is malformed."""


@dataclass(frozen=True)
class Window:
    name: str
    min_instances: int
    max_instances: int
    warmup: bool


@dataclass(frozen=True)
class TimedWindow:
    """A window and the local hours it holds; no hours means the rest of the day."""

    window: Window
    start: time | None = None
    end: time | None = None

    def holds(self, local: time) -> bool:
        if self.start is None:
            return True
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # crosses midnight


@dataclass(frozen=True)
class Season:
    name: str
    first: tuple[int, int]  # (month, day), inclusive
    last: tuple[int, int]
    windows: tuple[TimedWindow, ...]

    def holds(self, day: date) -> bool:
        md = (day.month, day.day)
        if self.first <= self.last:
            return self.first <= md <= self.last
        return md >= self.first or md <= self.last  # crosses new year


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    cron: str
    description: str = ""
    target: str = "prewarm"  # the function (main.py target) it POSTs {"job": name} to


@dataclass(frozen=True)
class Policy:
    warm_for_minutes: float = 10
    max_warmups_per_hour: int = 20
    emergency_max_instances: int = 2


@dataclass(frozen=True)
class Schedule:
    windows: tuple[TimedWindow, ...]
    seasons: tuple[Season, ...] = ()
    time_zone: str = "America/New_York"
    policy: Policy = field(default_factory=Policy)
    job_prefix: str = "pet-cutout-"
    jobs: tuple[ScheduledJob, ...] = ()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def window_at(self, when: datetime) -> Window:
        if when.tzinfo is None:
            raise ValueError("window_at needs a time-zone-aware datetime")
        local = when.astimezone(self.tz)
        windows = next((s.windows for s in self.seasons if s.holds(local.date())), self.windows)
        for timed in windows:
            if timed.holds(local.time()):
                return timed.window
        raise ScheduleError(f"no window holds {local.isoformat()}: give the last window no hours")

    def all_windows(self) -> list[Window]:
        return [t.window for t in self.windows] + [t.window for s in self.seasons for t in s.windows]


def _clock(text: str, where: str) -> time:
    try:
        hours, minutes = (int(part) for part in str(text).split(":"))
        return time(hours % 24, minutes)  # "24:00" means midnight
    except (ValueError, TypeError):
        raise ScheduleError(f"{where}: {text!r} is not HH:MM") from None


def _month_day(text: str, where: str) -> tuple[int, int]:
    try:
        month, day = (int(part) for part in str(text).split("-"))
        date(2024, month, day)  # a leap year accepts every real month-day
        return month, day
    except (ValueError, TypeError):
        raise ScheduleError(f"{where}: {text!r} is not MM-DD") from None


def _windows(raw: list, where: str) -> tuple[TimedWindow, ...]:
    if not raw:
        raise ScheduleError(f"{where}: no windows")
    out = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ScheduleError(f"{at}: a window needs a string name (quote YAML words like off, on, no)")
        try:
            window = Window(name=item["name"], min_instances=int(item["min_instances"]),
                            max_instances=int(item["max_instances"]), warmup=bool(item.get("warmup", False)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ScheduleError(f"{at}: {exc!r}") from None
        if not 0 <= window.min_instances <= window.max_instances or window.max_instances < 1:
            raise ScheduleError(f"{at}: need 0 <= min_instances <= max_instances and max_instances >= 1")
        has_hours = "start" in item or "end" in item
        start = _clock(item.get("start"), at) if has_hours else None
        end = _clock(item.get("end"), at) if has_hours else None
        out.append(TimedWindow(window, start, end))
    if out[-1].start is not None:
        raise ScheduleError(f"{where}: the last window must have no hours (it covers the rest of the day)")
    return tuple(out)


def parse_schedule(raw: dict) -> Schedule:
    """Build a Schedule from the YAML structure of schedules.yaml."""
    if not isinstance(raw, dict):
        raise ScheduleError("a schedule is a mapping")
    seasons = tuple(
        Season(name=str(s["name"]), first=_month_day(s["from"], s["name"]), last=_month_day(s["to"], s["name"]),
               windows=_windows(s.get("windows"), f"seasons.{s['name']}"))
        for s in raw.get("seasons") or ()
    )
    jobs = tuple(ScheduledJob(str(j["name"]), str(j["cron"]), str(j.get("description", "")),
                              str(j.get("target", "prewarm")))
                 for j in raw.get("jobs") or ())
    schedule = Schedule(
        windows=_windows(raw.get("windows"), "windows"),
        seasons=seasons,
        time_zone=str(raw.get("time_zone", "America/New_York")),
        policy=Policy(**(raw.get("policy") or {})),
        job_prefix=str(raw.get("job_prefix", "pet-cutout-")),
        jobs=jobs,
    )
    _ = schedule.tz  # fails early on an unknown zone
    return schedule


def load_schedule(path: Path | str = SCHEDULES_FILE) -> Schedule:
    return parse_schedule(yaml.safe_load(Path(path).read_text()))


@lru_cache
def default_schedule() -> Schedule:
    return load_schedule()


def schedule_from(path: Path | str | None) -> Schedule:
    """The schedule at `path` (a --schedule, SCHEDULES_FILE), or the shipped one when none is named."""
    return load_schedule(path) if path else default_schedule()


def window_at(when: datetime) -> Window:
    """The shipped schedule's window at `when` (tz-aware; evaluated in America/New_York)."""
    return default_schedule().window_at(when)
