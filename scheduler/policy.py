"""Each tick's decision: the window's scaling, and whether to ping /warmup.

Plain logic, no I/O: the pre-warm function (and, for a shopper's intent, the warm
function, through decide_intent) feeds it what it knows (when the
last job finished, how many pings this hour, emergency mode) and acts on the
answer; the simulator calls the same function.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from scheduler.windows import Schedule, Window, default_schedule


@dataclass(frozen=True)
class ScalingDecision:
    window: Window
    min_instances: int
    max_instances: int
    warmup: bool
    reason: str


def decide(now: datetime, *, last_job_finished_at: datetime | None, warmups_last_hour: int, emergency: bool,
           schedule: Schedule | None = None) -> ScalingDecision:
    schedule = schedule or default_schedule()
    window = schedule.window_at(now)
    policy = schedule.policy
    if emergency:
        cap = min(window.max_instances, policy.emergency_max_instances)
        return ScalingDecision(window, 0, cap, False, "emergency cost mode: scale to zero allowed, no warm-ups")

    def keep(warmup: bool, reason: str) -> ScalingDecision:
        return ScalingDecision(window, window.min_instances, window.max_instances, warmup, reason)

    if not window.warmup:
        return keep(False, f"window {window.name} has no warm-ups")
    if window.min_instances > 0:
        return keep(False, f"window {window.name} keeps {window.min_instances} instance(s) warm")
    if last_job_finished_at is not None and now - last_job_finished_at < timedelta(minutes=policy.warm_for_minutes):
        return keep(False, "a job finished in the last "
                           f"{policy.warm_for_minutes:g} minutes: the instance is warm")
    if warmups_last_hour >= policy.max_warmups_per_hour:
        return keep(False, f"warm-up cap reached ({policy.max_warmups_per_hour} an hour)")
    return keep(True, f"window {window.name} wants a warm instance")


def decide_intent(now: datetime, *, last_job_finished_at: datetime | None, last_warmup_at: datetime | None,
                  warmups_last_hour: int, emergency: bool, budget_spent: bool,
                  schedule: Schedule | None = None) -> ScalingDecision:
    """A shopper's intent (functions/warm.py): the tick's rules, plus two that a tick
    does not need. A warm-up sent within the warm window (by a tick or another
    shopper) already left an instance warm; a spent budget allows none, even before
    the budget guard has switched emergency mode on."""
    schedule = schedule or default_schedule()
    decision = decide(now, last_job_finished_at=last_job_finished_at, warmups_last_hour=warmups_last_hour,
                      emergency=emergency, schedule=schedule)
    if not decision.warmup:
        return decision
    if budget_spent:
        return replace(decision, warmup=False, reason="budget spent: no warm-ups")
    warm_for = timedelta(minutes=schedule.policy.warm_for_minutes)
    if last_warmup_at is not None and now - last_warmup_at < warm_for:
        return replace(decision, warmup=False, reason="a warm-up was sent in the last "
                                                      f"{schedule.policy.warm_for_minutes:g} minutes: already warm")
    return decision
