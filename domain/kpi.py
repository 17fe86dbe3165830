"""The store's KPIs over plain records: jobs, request counts and spend samples.

No I/O: adapters fetch the records, reports/kpis.yaml gives the targets (domain/kpi_targets.py). Every KPI
is computed per day (in the targets' time zone) and over the whole period; a day
whose value misses its target is one violation. A day without data has no value
and no violation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from domain.jobs import Job, State
from domain.kpi_targets import Target, Targets


# --- The records the adapters fetch ------------------------------------------

@dataclass(frozen=True)
class RequestBucket:
    """The GPU service's requests in [start, start + seconds): all of them, and those answered 5xx."""

    start: datetime
    requests: int
    errors: int


@dataclass(frozen=True)
class SpendSample:
    """One budget notification as the budget guard recorded it: the cost of the budget's
    interval so far (cumulative), seen at `at`."""

    at: datetime
    budget_id: str
    interval_start: datetime
    cost: float


def daily_costs(samples: list[SpendSample], tz: ZoneInfo) -> dict[date, float]:
    """Spend per local day: each notification's rise over the highest cost seen before in
    its interval, counted on the day it was seen (a repeated or late one adds nothing).
    The first notification of an interval carries all of it so far."""
    highest: dict[tuple[str, datetime], float] = {}
    out: dict[date, float] = {}
    for s in sorted(samples, key=lambda s: s.at):
        key = (s.budget_id, s.interval_start)
        rise = s.cost - highest.get(key, 0.0)
        if rise > 0:
            highest[key] = s.cost
            day = s.at.astimezone(tz).date()
            out[day] = out.get(day, 0.0) + rise
    return out


# --- The computation ------------------------------------------------------------

def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p % of them at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class DayFigures:
    """What one day's KPIs are computed from."""

    cold: list[float] = field(default_factory=list)
    warm: list[float] = field(default_factory=list)
    valid: int = 0  # passed intake's checks: reached the queue
    done: int = 0
    low_confidence: int = 0  # done, but the subject gate found only a weak subject (domain/subject.py)
    user_failed: int = 0
    errors: int = 0  # system failures and stuck jobs
    requests: dict[str, list[int]] = field(default_factory=dict)  # KPI name -> [requests, errors]
    cost: float | None = None  # spend of the day; None when no notification told it
    priced_done: int = 0  # jobs done on days whose spend is known

    def add(self, other: "DayFigures") -> None:
        self.cold += other.cold
        self.warm += other.warm
        self.valid += other.valid
        self.done += other.done
        self.low_confidence += other.low_confidence
        self.user_failed += other.user_failed
        self.errors += other.errors
        if other.cost is not None:
            # A day without spend data must not make the period's images look cheaper.
            self.cost = (self.cost or 0.0) + other.cost
            self.priced_done += other.priced_done
        for name, (n, e) in other.requests.items():
            have = self.requests.setdefault(name, [0, 0])
            have[0] += n
            have[1] += e

    def value(self, kpi: Target) -> tuple[float | None, int]:
        """(value, how many samples it rests on)."""
        name = kpi.name
        if name.startswith(("cold_start_p", "warm_p")):
            values = self.cold if name.startswith("cold") else self.warm
            return percentile(values, float(name.rsplit("_p", 1)[1])), len(values)
        if name == "error_rate":
            counted = self.valid - self.user_failed
            return _ratio(self.errors, counted), counted
        if name == "valid_success_rate":
            return _ratio(self.done, self.valid), self.valid
        if name.startswith("availability"):
            n, e = self.requests.get(name, [0, 0])
            return _ratio(n - e, n), n
        if name == "cost_per_1000_images":
            if self.cost is None or not self.priced_done:
                return None, self.priced_done
            return self.cost / self.priced_done * 1000, self.priced_done
        raise ValueError(f"no rule computes KPI {name!r}")


@dataclass(frozen=True)
class KpiResult:
    kpi: Target
    value: float | None
    samples: int
    met: bool | None
    violations: int
    daily: dict[date, float | None]


@dataclass(frozen=True)
class KpiReport:
    first_day: date
    last_day: date
    results: tuple[KpiResult, ...]
    totals: DayFigures
    daily_cost: dict[date, float | None]
    daily_done: dict[date, int]
    daily_low_confidence: dict[date, int] = field(default_factory=dict)

    @property
    def violations(self) -> int:
        return sum(r.violations for r in self.results)


def _figures(days: list[date], jobs: list[Job], buckets: list[RequestBucket], spend: list[SpendSample],
             targets: Targets, now: datetime) -> dict[date, DayFigures]:
    tz = targets.tz
    out = {day: DayFigures() for day in days}
    for job in jobs:
        queued = job.timestamps.get(State.QUEUED.value)
        if queued is None or (fig := out.get(queued.astimezone(tz).date())) is None:
            continue
        if job.state is State.DONE:
            seconds = (job.timestamps[State.DONE.value] - queued).total_seconds()
            (fig.cold if job.cold_start else fig.warm).append(seconds)
            fig.done += 1
            fig.low_confidence += job.low_confidence
        elif job.state is State.FAILED and job.reason in targets.user_error_reasons:
            fig.user_failed += 1
        elif job.state is State.FAILED or now - queued >= targets.stuck_after:
            fig.errors += 1
        else:
            continue  # still in flight: not counted yet
        fig.valid += 1
    availability = [k for k in targets.kpis if k.name.startswith("availability")]
    for bucket in buckets:
        local = bucket.start.astimezone(tz)
        if (fig := out.get(local.date())) is None:
            continue
        for kpi in availability:
            if kpi.holds_at(local):
                have = fig.requests.setdefault(kpi.name, [0, 0])
                have[0] += bucket.requests
                have[1] += bucket.errors
    for day, cost in daily_costs(spend, tz).items():
        if day in out:
            out[day].cost = cost
    for fig in out.values():
        fig.priced_done = fig.done if fig.cost is not None else 0
    return out


def compute(days: list[date], *, jobs: list[Job], buckets: list[RequestBucket], spend: list[SpendSample],
            targets: Targets, now: datetime) -> KpiReport:
    """Every KPI of `targets` over the local `days` (consecutive, oldest first)."""
    figures = _figures(days, jobs, buckets, spend, targets, now)
    totals = DayFigures()
    for fig in figures.values():
        totals.add(fig)
    results = []
    for kpi in targets.kpis:
        daily = {day: fig.value(kpi)[0] for day, fig in figures.items()}
        value, samples = totals.value(kpi)
        results.append(KpiResult(kpi=kpi, value=value, samples=samples,
                                 met=None if value is None else kpi.met(value),
                                 violations=sum(1 for v in daily.values() if v is not None and not kpi.met(v)),
                                 daily=daily))
    return KpiReport(first_day=days[0], last_day=days[-1], results=tuple(results), totals=totals,
                     daily_cost={day: fig.cost for day, fig in figures.items()},
                     daily_done={day: fig.done for day, fig in figures.items()},
                     daily_low_confidence={day: fig.low_confidence for day, fig in figures.items()})


def all_healthy(*, service_ok: bool, violations: int, cost: float | None, daily_budget: float) -> bool:
    """The plan's "all healthy": the service is healthy, no KPI missed its target, and
    yesterday's spend is known and under the daily budget."""
    return service_ok and violations == 0 and cost is not None and cost < daily_budget
