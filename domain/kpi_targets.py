"""The KPIs' targets, as reports/kpis.yaml declares them (parsed here, read by the caller),
and how a value is shown to people."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Target:
    name: str
    label: str
    unit: str  # "s", "%" (a ratio shown as a percentage) or "$"
    limit: float
    upper: bool  # True: the value must stay below `limit`; False: above it
    hours: tuple[time, time] | None = None  # availability only within these local hours
    dates: tuple[tuple[int, int], tuple[int, int]] | None = None  # ... or on these (month, day)s, inclusive

    def met(self, value: float) -> bool:
        return value < self.limit if self.upper else value > self.limit

    def describe(self) -> str:
        limit = f"{self.limit * 100:g} %" if self.unit == "%" else f"{self.limit:g} {self.unit}"
        return f"{'<' if self.upper else '>'} " + (f"${self.limit:g}" if self.unit == "$" else limit)

    def holds_on(self, day: date) -> bool:
        if self.dates is None:
            return True
        (m1, d1), (m2, d2) = self.dates
        return (m1, d1) <= (day.month, day.day) <= (m2, d2)

    def holds_at(self, local: datetime) -> bool:
        if not self.holds_on(local.date()):
            return False
        return self.hours is None or self.hours[0] <= local.time() < self.hours[1]


@dataclass(frozen=True)
class Targets:
    time_zone: str
    kpis: tuple[Target, ...]
    user_error_reasons: frozenset[str]
    stuck_after: timedelta
    daily_budget: float

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def get(self, name: str) -> Target:
        return next(t for t in self.kpis if t.name == name)


def _hhmm(text: str) -> time:
    hours, minutes = (int(p) for p in str(text).split(":"))
    return time(hours, minutes)


def _md(text: str) -> tuple[int, int]:
    month, day = (int(p) for p in str(text).split("-"))
    date(2024, month, day)
    return month, day


def parse_targets(raw: dict) -> Targets:
    """Targets from the YAML structure of reports/kpis.yaml; ValueError when malformed."""
    kpis = []
    for item in raw.get("kpis") or ():
        if ("max" in item) == ("min" in item):
            raise ValueError(f"KPI {item.get('name')!r}: give exactly one of max or min")
        hours = item.get("hours")
        dates = item.get("dates")
        kpis.append(Target(
            name=str(item["name"]), label=str(item.get("label", item["name"])), unit=str(item.get("unit", "")),
            limit=float(item.get("max", item.get("min"))), upper="max" in item,
            hours=(_hhmm(hours["start"]), _hhmm(hours["end"])) if hours else None,
            dates=(_md(dates["from"]), _md(dates["to"])) if dates else None))
    if len({k.name for k in kpis}) != len(kpis):
        raise ValueError("a KPI is declared twice")
    targets = Targets(time_zone=str(raw.get("time_zone", "America/New_York")), kpis=tuple(kpis),
                      user_error_reasons=frozenset(raw.get("user_error_reasons") or ()),
                      stuck_after=timedelta(minutes=float(raw.get("stuck_after_minutes", 60))),
                      daily_budget=float(raw["daily_budget"]))
    _ = targets.tz  # an unknown zone fails here
    return targets


def show(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "%":
        return f"{value * 100:.3f} %"
    if unit == "$":
        return f"${value:.2f}"
    return f"{value:.2f} {unit}".strip()
