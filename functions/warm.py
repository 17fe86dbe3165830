"""Warm (public HTTP, from the store's widget): a shopper showed intent to upload.

Decides with the scheduler's own rules and state (scheduler.policy.decide_intent over
the operations store the pre-warm ticks write, and the jobs) and, when a warm-up is due, publishes
one small message to the warm-requests topic; its push subscription calls the GPU
service's /warmup with an OIDC token. Nothing here waits on the GPU service, so the
page's call is answered in the time of a Firestore read and a publish. Every request
is recorded with its outcome: sent, or skipped with the policy's reason.

This function never touches the GPU service's scaling: that stays with the private
pre-warm function, which only Cloud Scheduler may invoke.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from adapters.jobs import JobRepository
from adapters.logs import log
from adapters.messages import Publisher
from adapters.ops_store import OpsStore
from functions.budget_guard import EMERGENCY_AT
from settings import Settings

logger = logging.getLogger(__name__)


def handle(now: datetime, *, store: OpsStore, jobs: JobRepository, publisher: Publisher, settings: Settings,
           decide=None, schedule=None) -> dict:
    from scheduler.policy import decide_intent
    from scheduler.windows import schedule_from

    decide = decide or decide_intent
    schedule = schedule or schedule_from(settings.schedules_file)
    recent = store.warmups_between(now - timedelta(hours=1), now)
    spend = store.latest_spend()
    decision = decide(now, last_job_finished_at=jobs.last_job_finished_at(),
                      last_warmup_at=max(recent, default=None), warmups_last_hour=len(recent),
                      emergency=store.emergency() is not None,
                      budget_spent=spend is not None and float(spend.get("fraction", 0.0)) >= EMERGENCY_AT,
                      schedule=schedule)
    outcome, reason = ("sent" if decision.warmup else "skipped"), decision.reason
    if decision.warmup:
        # One intent warm-up per warm window across every instance and shopper: two
        # shoppers deciding at once both pass the policy, only one takes the slot.
        slot = int(now.timestamp() // (schedule.policy.warm_for_minutes * 60))
        if not store.claim(f"intent-warmup:{slot}", at=now):
            outcome, reason = "skipped", "another shopper's warm-up was just sent: already warm"
    if outcome == "sent":
        try:
            publisher.publish(settings.warm_topic, json.dumps({"requested_at": now.isoformat()}).encode(),
                              source="intent")
        except Exception as exc:  # noqa: BLE001 - a warm-up that cannot be sent is dropped, not retried
            outcome, reason = "failed", f"publish: {str(exc)[:200]}"
        else:
            store.record_warmup(now)
    summary = {"outcome": outcome, "reason": reason, "window": decision.window.name}
    store.record("warm_intent", **summary)
    log(logger, logging.INFO, "warm intent", **summary)
    return summary
