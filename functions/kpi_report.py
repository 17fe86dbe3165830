"""KPI report (HTTP, private; also `python -m reports kpi`): every KPI of the plan over
the last N whole days in the store's time zone, with its target and violation count.
JSON for machines, `?format=table` for people."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

import yaml

from adapters.reports import ReportSource, RequestCounts
from domain.kpi import KpiReport, compute
from domain.kpi_targets import Targets, parse_targets, show

TARGETS_FILE = Path(__file__).resolve().parent.parent / "reports" / "kpis.yaml"
MAX_DAYS = 92
# A monthly budget's running cost: its interval began at most this long before the period.
SPEND_LOOKBACK = timedelta(days=32)


class BadRequest(ValueError):
    """A query the report cannot answer; the message says why."""


@lru_cache
def load_targets(path: Path = TARGETS_FILE) -> Targets:
    return parse_targets(yaml.safe_load(path.read_text()))


def days_ending(last_day: date, count: int) -> list[date]:
    return [last_day - timedelta(days=count - 1 - i) for i in range(count)]


def build(last_day: date, count: int, *, source: ReportSource, request_counts: RequestCounts, service: str,
          targets: Targets, now: datetime) -> KpiReport:
    """Fetch the period's records and compute the report over `count` days ending with `last_day`."""
    days = days_ending(last_day, count)
    tz = targets.tz
    start = datetime.combine(days[0], time(), tz)
    end = datetime.combine(days[-1] + timedelta(days=1), time(), tz)
    return compute(days, jobs=source.jobs_queued(start, end), buckets=request_counts.hourly(service, start, end),
                   spend=source.spend_samples(start - SPEND_LOOKBACK, end), targets=targets, now=now)


def parse_query(args, now: datetime, targets: Targets) -> tuple[date, int, str]:
    """(last day, number of days, format) from ?days=N&end=YYYY-MM-DD&format=json|table.
    By default the 7 whole days before today."""
    try:
        count = int(args.get("days", 7))
    except ValueError:
        raise BadRequest("days must be a whole number") from None
    if not 1 <= count <= MAX_DAYS:
        raise BadRequest(f"days must be between 1 and {MAX_DAYS}")
    today = now.astimezone(targets.tz).date()
    try:
        last_day = date.fromisoformat(args["end"]) if args.get("end") else today - timedelta(days=1)
    except ValueError:
        raise BadRequest("end must be a date, YYYY-MM-DD") from None
    if last_day >= today:
        raise BadRequest("end must be a day before today (whole days only)")
    fmt = args.get("format", "json")
    if fmt not in ("json", "table"):
        raise BadRequest("format must be json or table")
    return last_day, count, fmt


def as_json(report: KpiReport, targets: Targets) -> dict:
    t = report.totals
    return {
        "first_day": report.first_day.isoformat(), "last_day": report.last_day.isoformat(),
        "time_zone": targets.time_zone, "violations": report.violations,
        "kpis": [{"name": r.kpi.name, "label": r.kpi.label, "unit": r.kpi.unit, "target": r.kpi.describe(),
                  "limit": r.kpi.limit, "upper_bound": r.kpi.upper, "value": r.value, "samples": r.samples,
                  "met": r.met, "violations": r.violations,
                  "daily": {day.isoformat(): value for day, value in r.daily.items()}} for r in report.results],
        "jobs": {"valid": t.valid, "done": t.done, "user_errors": t.user_failed, "errors": t.errors,
                 "cold_starts": len(t.cold), "low_confidence": t.low_confidence},
        "daily_cost": {day.isoformat(): cost for day, cost in report.daily_cost.items()},
        "daily_done": {day.isoformat(): n for day, n in report.daily_done.items()},
        "cost": t.cost,
    }


def table(report: KpiReport, targets: Targets) -> str:
    """A fixed-width table for people (no extra dependency in the functions' runtime)."""
    rows = [("KPI", "target", "value", "met", "violation days", "samples")]
    for r in report.results:
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        rows.append((r.kpi.label, r.kpi.describe(), show(r.value, r.kpi.unit), met, str(r.violations),
                     str(r.samples)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    line = lambda row: "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()  # noqa: E731
    head = (f"KPIs {report.first_day} to {report.last_day} ({targets.time_zone}): "
            f"{report.violations} violation(s)")
    t = report.totals
    # The subject gate's weak verdicts: done, but worth a look before printing (domain/subject.py).
    foot = f"jobs done: {t.done}, of which low confidence (weak subject): {t.low_confidence}"
    return "\n".join([head, line(rows[0]), "  ".join("-" * w for w in widths), *map(line, rows[1:]), foot]) + "\n"


def handle(args, *, source: ReportSource, request_counts: RequestCounts, service: str, now: datetime,
           targets: Targets | None = None) -> tuple[str | dict, str]:
    """(body, format); raises BadRequest on a malformed query."""
    targets = targets or load_targets()
    last_day, count, fmt = parse_query(args, now, targets)
    report = build(last_day, count, source=source, request_counts=request_counts, service=service, targets=targets, now=now)
    return (table(report, targets) if fmt == "table" else as_json(report, targets)), fmt
