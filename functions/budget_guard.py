"""Budget guard (Pub/Sub, Cloud Billing budget notifications).

Billing repeats a notification many times a day, so every action is claimed
once per budget, interval and threshold: at 75 % a warning, at 100 % emergency
cost mode (GPU service min 0 / max the policy's cap in scheduler/schedules.yaml,
warm-ups paused), left when the budget's next interval starts. Spend is recorded
every time, for the cost report.

Entering emergency mode takes several writes (the mode with the scaling to
restore, the scaling change, the log entry). If any of them fails, the claim is
released and the error returned, so Pub/Sub's redelivery resumes where it
stopped: each step is skipped when already done, and the log entry is written
once by its key.
"""

from __future__ import annotations

import logging

from adapters.cloud_run import CloudRun, Scaling
from adapters.logs import log
from adapters.notify import Notifier
from adapters.ops_store import OpsStore
from domain import emergency
from events.ops_notices import BudgetNotification
from settings import Settings

logger = logging.getLogger(__name__)

WARN_AT = 0.75
EMERGENCY_AT = 1.0


def emergency_scaling() -> Scaling:
    """Min 0, max the emergency cap of scheduler/schedules.yaml (its one source; pre-warm applies the same)."""
    from scheduler.windows import default_schedule

    return Scaling(min_instances=0, max_instances=default_schedule().policy.emergency_max_instances)


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
    if note.fraction >= WARN_AT and _warn(note, key, store=store, notifier=notifier):
        outcomes.append("warned")
    if note.fraction >= EMERGENCY_AT and _enter_emergency(note, key, store=store, cloud_run=cloud_run,
                                                          notifier=notifier, settings=settings):
        outcomes.append("emergency_entered")
    return outcomes or ["recorded"]


def _warn(note, key, *, store, notifier) -> bool:
    claim = f"{key}:warn"
    if not store.claim(claim, fraction=note.fraction):
        return False
    try:
        store.record_once(f"{key}:budget_warning", "budget_warning", budget_id=note.budget_id,
                          interval=note.cost_interval_start, fraction=note.fraction, cost=note.cost_amount)
    except Exception:
        store.release(claim)  # the redelivery warns instead
        raise
    notifier.announce(f"Budget '{note.budget_display_name}': {note.fraction:.0%} spent "
                      f"({note.cost_amount:.2f} of {note.budget_amount:.2f} {note.currency_code}) "
                      f"in the period from {note.cost_interval_start:%Y-%m-%d}.")
    return True


def _enter_emergency(note, key, *, store, cloud_run, notifier, settings) -> bool:
    claim = f"{key}:emergency"
    if not store.claim(claim, fraction=note.fraction):
        return False  # another delivery of this interval acted, or is acting
    try:
        return _enter_or_resume(note, key, store=store, cloud_run=cloud_run, notifier=notifier, settings=settings)
    except Exception:
        store.release(claim)  # whatever failed after the claim, the redelivery must finish entering
        raise


def _enter_or_resume(note, key, *, store, cloud_run, notifier, settings) -> bool:
    interval = note.cost_interval_start
    current = store.emergency()
    if emergency.entered_by(current, note.budget_id, interval):  # an earlier delivery got part of the way
        saved = Scaling(current["saved_min_instances"], current["saved_max_instances"])
    elif current is not None:
        return False  # already on (another budget put it on): nothing to save or change
    else:
        saved = cloud_run.scaling(settings.gpu_service)
        # Stored before scaling down: a retry never takes the emergency scaling for the one to restore,
        # and pre-warm ticks keep the cap from here on (functions/prewarm.py).
        if not store.enter_emergency(note.budget_id, interval, saved_min_instances=saved.min_instances,
                                     saved_max_instances=saved.max_instances):
            return False
    target = emergency_scaling()
    if cloud_run.scaling(settings.gpu_service) != target:
        cloud_run.set_scaling(settings.gpu_service, target)
    # Once by its key: an earlier delivery may have written it and failed just after. Announcing here
    # is right even then: none announced yet, since a delivery that got that far kept its claim.
    store.record_once(f"{key}:emergency_entered", "emergency_entered", budget_id=note.budget_id, interval=interval,
                      saved_min_instances=saved.min_instances, saved_max_instances=saved.max_instances)
    log(logger, logging.WARNING, "emergency cost mode on", budget_id=note.budget_id, fraction=note.fraction)
    notifier.announce(f"Emergency cost mode ON: budget '{note.budget_display_name}' is {note.fraction:.0%} spent. "
                      f"GPU service scaled to min {target.min_instances} / max "
                      f"{target.max_instances}, warm-ups paused until the next budget period.")
    return True


def _leave_emergency(note, *, store, cloud_run, notifier, settings) -> bool:
    current = store.emergency()
    if not emergency.may_leave(current, note.budget_id, note.cost_interval_start):
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
