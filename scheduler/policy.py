"""Each tick's decision: the window's scaling, and whether to ping /warmup.

Plain logic, no I/O: the pre-warm function feeds it what it knows (when the
last job finished, how many pings this hour, emergency mode) and acts on the
answer; the simulator calls the same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from scheduler.windows import Schedule, Window, default_schedule


@dataclass(frozen=True)
class Decision:
    window: Window
    min_instances: int
    max_instances: int
    warmup: bool
    reason: str


def decide(now: datetime, *, last_job_finished_at: datetime | None, warmups_last_hour: int, emergency: bool,
           schedule: Schedule | None = None) -> Decision:
    schedule = schedule or default_schedule()
    window = schedule.window_at(now)
    policy = schedule.policy
    if emergency:
        cap = min(window.max_instances, policy.emergency_max_instances)
        return Decision(window, 0, cap, False, "emergency cost mode: scale to zero allowed, no warm-ups")

    def keep(warmup: bool, reason: str) -> Decision:
        return Decision(window, window.min_instances, window.max_instances, warmup, reason)

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
