"""The morning health check (HTTP, called by Cloud Scheduler; scheduler/schedules.yaml):
the GPU service's health, yesterday's cost and yesterday's KPI violations, posted to
Slack once a day. "All healthy" only when all three hold (domain/kpi.py all_healthy)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from adapters.logs import log
from adapters.notify import Notifier, ServiceCaller
from adapters.ops_store import OpsStore
from adapters.reports import ReportSource, RequestCounts
from domain.kpi import all_healthy
from domain.kpi_targets import show
from functions import kpi_report
from settings import Settings

logger = logging.getLogger(__name__)
# /health may have to start an instance (min instances 0 off-peak): a cold start is ~30 s.
HEALTH_TIMEOUT_S = 120.0


def service_health(caller: ServiceCaller, url: str) -> tuple[bool, str]:
    """(healthy, one line for people) from the GPU service's /health."""
    try:
        status, body = caller.call("GET", url.rstrip("/") + "/health", timeout=HEALTH_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - unreachable is an answer: unhealthy
        return False, f"unreachable ({type(exc).__name__})"
    try:
        health = json.loads(body)
        model, memory, queue = health["model"], health["memory"], health["queue"]
    except (ValueError, KeyError, TypeError):
        return False, f"HTTP {status}, unreadable /health"
    line = (f"revision {health.get('revision', '?')}, model {model.get('stage')}, queue {queue.get('depth')}, "
            f"RSS {memory.get('rss_bytes', 0) / 2**30:.1f} GiB, GPU {memory.get('gpu_bytes', 0) / 2**30:.1f} GiB")
    return status == 200 and health.get("status") == "ok", line


def message(day, healthy: bool, service_line: str, report, targets) -> tuple[bool, str]:
    cost = report.daily_cost.get(day)
    verdict = all_healthy(service_ok=healthy, violations=report.violations, cost=cost,
                          daily_budget=targets.daily_budget)
    cost_line = ("no spend recorded" if cost is None else
                 f"{show(cost, '$')} of the {show(targets.daily_budget, '$')} daily budget "
                 f"({report.daily_done.get(day, 0)} images)")
    missed = [f"{r.kpi.label} {show(r.daily[day], r.kpi.unit)} (target {r.kpi.describe()})"
              for r in report.results if r.violations]
    lines = [f"Morning health check for {day:%a %Y-%m-%d} ({targets.time_zone}): "
             + ("all healthy" if verdict else "NOT all healthy"),
             f"- Service: {'healthy' if healthy else 'UNHEALTHY'}: {service_line}",
             f"- Yesterday's cost: {cost_line}",
             f"- KPI violations: {len(missed)}" + (": " + "; ".join(missed) if missed else "")]
    return verdict, "\n".join(lines)


def handle(*, store: OpsStore, source: ReportSource, request_counts: RequestCounts, caller: ServiceCaller,
           notifier: Notifier, settings: Settings, now: datetime) -> dict:
    targets = kpi_report.load_targets()
    day = now.astimezone(targets.tz).date() - timedelta(days=1)
    key = f"health-check:{day.isoformat()}"
    # Cloud Scheduler may deliver a run twice: one post per day.
    if not store.claim(key):
        return {"day": day.isoformat(), "posted": False, "note": "already posted for this day"}
    try:
        healthy, service_line = service_health(caller, settings.gpu_service_url)
        report = kpi_report.build(day, 1, source=source, request_counts=request_counts, service=settings.gpu_service,
                                  targets=targets, now=now)
        verdict, text = message(day, healthy, service_line, report, targets)
    except Exception:
        store.release(key)  # let a retry post it
        raise
    posted = notifier.announce(text)
    if not posted:
        store.release(key)
    store.record("health_check", day=day.isoformat(), all_healthy=verdict, posted=posted)
    log(logger, logging.INFO, "health check", day=day.isoformat(), all_healthy=verdict, posted=posted)
    return {"day": day.isoformat(), "all_healthy": verdict, "posted": posted, "text": text}
