"""Budget guard (Pub/Sub, Cloud Billing budget notifications).

Billing repeats a notification many times a day, so every action is claimed
once per budget, interval and threshold: at 75 % a warning, at 100 % emergency
cost mode (GPU service min 0 / max 2, warm-ups paused), left when the budget's
next interval starts. Spend is recorded every time, for the cost report.
"""

from __future__ import annotations

import logging

from adapters.cloud_run import CloudRun, Scaling
from adapters.logs import log
from adapters.notify import Notifier
from adapters.ops import OpsStore
from events.ops import BudgetNotification
from settings import Settings

logger = logging.getLogger(__name__)

WARN_AT = 0.75
EMERGENCY_AT = 1.0
EMERGENCY_SCALING = Scaling(min_instances=0, max_instances=2)


def handle(note: BudgetNotification, *, store: OpsStore, cloud_run: CloudRun, notifier: Notifier,
           settings: Settings) -> list[str]:
    """What this notification did: e.g. ["warned"], ["emergency_entered"], ["recorded"], ["stale"]."""
    interval = note.cost_interval_start
    store.record_spend(note.budget_id, interval, budget_name=note.budget_display_name, cost=note.cost_amount,
                       budget=note.budget_amount, currency=note.currency_code, fraction=note.fraction)
    if not store.note_interval(note.budget_id, interval):
        return ["stale"]  # an older interval's message, delivered late: it must not act
    outcomes = []
    if _leave_emergency(note, store=store, cloud_run=cloud_run, notifier=notifier, settings=settings):
        outcomes.append("emergency_left")
    key = f"budget:{note.budget_id}:{interval.isoformat()}"
    if note.fraction >= WARN_AT and store.claim(f"{key}:warn", fraction=note.fraction):
        store.record("budget_warning", budget_id=note.budget_id, interval=interval, fraction=note.fraction,
                     cost=note.cost_amount)
        notifier.announce(f"Budget '{note.budget_display_name}': {note.fraction:.0%} spent "
                          f"({note.cost_amount:.2f} of {note.budget_amount:.2f} {note.currency_code}) "
                          f"in the period from {interval:%Y-%m-%d}.")
        outcomes.append("warned")
    if note.fraction >= EMERGENCY_AT and _enter_emergency(note, key, store=store, cloud_run=cloud_run,
                                                          notifier=notifier, settings=settings):
        outcomes.append("emergency_entered")
    return outcomes or ["recorded"]


def _enter_emergency(note, key, *, store, cloud_run, notifier, settings) -> bool:
    if not store.claim(f"{key}:emergency", fraction=note.fraction):
        return False
    try:
        saved = cloud_run.scaling(settings.gpu_service)
        if store.emergency() is not None:
            return False  # already on (another budget put it on): nothing to save or change
        cloud_run.set_scaling(settings.gpu_service, EMERGENCY_SCALING)
    except Exception:
        store.release(f"{key}:emergency")  # let Pub/Sub's retry act
        raise
    if not store.enter_emergency(note.budget_id, note.cost_interval_start, saved_min_instances=saved.min_instances,
                                 saved_max_instances=saved.max_instances):
        return False
    store.record("emergency_entered", budget_id=note.budget_id, interval=note.cost_interval_start,
                 saved_min_instances=saved.min_instances, saved_max_instances=saved.max_instances)
    log(logger, logging.WARNING, "emergency cost mode on", budget_id=note.budget_id, fraction=note.fraction)
    notifier.announce(f"Emergency cost mode ON: budget '{note.budget_display_name}' is {note.fraction:.0%} spent. "
                      f"GPU service scaled to min {EMERGENCY_SCALING.min_instances} / max "
                      f"{EMERGENCY_SCALING.max_instances}, warm-ups paused until the next budget period.")
    return True


def _leave_emergency(note, *, store, cloud_run, notifier, settings) -> bool:
    current = store.emergency()
    if current is None or current.get("budget_id") != note.budget_id or note.cost_interval_start <= current["interval"]:
        return False
    saved = Scaling(current.get("saved_min_instances", 0), current.get("saved_max_instances", 3))
    cloud_run.set_scaling(settings.gpu_service, saved)  # idempotent: safe if a duplicate also does it
    if store.leave_emergency(note.budget_id, note.cost_interval_start) is None:
        return False
    store.record("emergency_left", budget_id=note.budget_id, interval=note.cost_interval_start,
                 min_instances=saved.min_instances, max_instances=saved.max_instances)
    notifier.announce(f"Emergency cost mode OFF: a new budget period started for '{note.budget_display_name}'. "
                      f"GPU service scaling restored to min {saved.min_instances} / max {saved.max_instances}.")
    return True
