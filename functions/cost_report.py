"""Cost report (HTTP): the current budget period's spend, images processed and
cost per 1,000 images, against the plan's ceiling; the jobs served from the mask
cache (hits, misses, GPU seconds saved: domain/cache.py); and what a day's warm-ups
(scheduler ticks and shoppers' intent alike) cost and saved (domain/warmups.py)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from adapters.jobs import JobRepository
from adapters.ops_store import OpsStore
from domain import warmups as warmup_figures
from functions.kpi_report import load_targets
from settings import get_settings


def handle(*, store: OpsStore, jobs: JobRepository, day: date | None = None, schedule=None) -> dict:
    spend = store.latest_spend()
    # Since the budget period began; before any budget notification, over the jobs' retention:
    # older jobs expire by Firestore's TTL, and an expired one may still be read for about a
    # day until it is deleted (https://cloud.google.com/firestore/docs/ttl), so only the
    # retention window counts every job.
    since = spend["interval_start"] if spend else (
        datetime.now(timezone.utc) - timedelta(days=get_settings().job_retention_days))
    done = jobs.jobs_done_since(since)
    return {**_spend(spend, done), "cache": _cache(jobs, since, done),
            "warmups": _warmups(store, jobs, day, schedule)}


def _warmups(store: OpsStore, jobs: JobRepository, day: date | None, schedule) -> dict:
    """The store's local day (today by default): warm-ups per hour, their instance time, uploads they met."""
    from scheduler.windows import default_schedule

    schedule = schedule or default_schedule()
    day = day or datetime.now(timezone.utc).astimezone(schedule.tz).date()
    start = datetime.combine(day, time(0), tzinfo=schedule.tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=schedule.tz)
    warm_for = timedelta(minutes=schedule.policy.warm_for_minutes)
    # An upload just after midnight may have met a warm-up just before it: look back one window.
    sent = store.warmups_between(start - warm_for, end)
    uploads = jobs.uploads_between(start, end)
    result = warmup_figures.figures(sent, uploads, warm_for=warm_for, tz=schedule.tz, day_start=start)
    return {"day": day.isoformat(), "time_zone": schedule.time_zone, **result.as_dict()}


def _spend(spend: dict | None, images: int) -> dict:
    """The period's spend over the `images` done in it, against the plan's ceiling (reports/kpis.yaml)."""
    ceiling = load_targets().get("cost_per_1000_images").limit
    if spend is None:
        return {"spend": None, "images_processed": None, "cost_per_1000_images": None,
                "plan_ceiling_per_1000": ceiling, "note": "no budget notification received yet"}
    since = spend["interval_start"]
    cost = float(spend["cost"])
    return {
        "interval_start": since.isoformat(),
        "budget_name": spend.get("budget_name", ""),
        "spend": round(cost, 2),
        "budget": spend.get("budget"),
        "currency": spend.get("currency", ""),
        "budget_fraction": round(float(spend.get("fraction", 0.0)), 4),
        "images_processed": images,
        "cost_per_1000_images": round(cost / images * 1000, 2) if images else None,
        "plan_ceiling_per_1000": ceiling,
    }


def _cache(jobs: JobRepository, since: datetime, done: int) -> dict:
    """Of the `done` jobs since `since`, those served from the mask cache; a miss took the GPU path."""
    hits, saved = jobs.cache_hits_since(since)
    return {"since": since.isoformat(), "hits": hits, "misses": max(0, done - hits),
            "hit_rate": round(hits / done, 4) if done else None, "gpu_seconds_saved": round(saved, 3)}
