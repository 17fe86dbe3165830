"""Emergency cost mode: when a budget's notification may turn it on or off. Plain rules, no I/O.

The mode is one record (`{}` when it never was on): `active`, the `budget_id` and
billing `interval` that turned it on, and the GPU service's scaling saved from
before, which leaving restores. `enter` and `leave` are what the operations store
applies inside one transaction (adapters/ops_store.py); the budget guard asks the rest
before acting.
"""

from __future__ import annotations

from datetime import datetime


def may_enter(record: dict, interval: datetime) -> bool:
    """Not while it is on, nor for an interval older than the one that last turned it on or off."""
    return not record.get("active") and not (record.get("interval") and record["interval"] > interval)


def entered(budget_id: str, interval: datetime, at: datetime, **saved) -> dict:
    return {"active": True, "budget_id": budget_id, "interval": interval, "entered_at": at, **saved}


def entered_by(record: dict | None, budget_id: str, interval: datetime) -> bool:
    """Whether this budget's notifications of this interval turned the mode on (a redelivery resumes)."""
    return bool(record and record.get("active") and record.get("budget_id") == budget_id
                and record.get("interval") == interval)


def may_leave(record: dict | None, budget_id: str, interval: datetime) -> bool:
    """Only the budget that turned it on leaves it, once its next interval starts."""
    return bool(record and record.get("active") and record.get("budget_id") == budget_id
                and interval > record["interval"])


def left(record: dict, interval: datetime, at: datetime) -> dict:
    return {**record, "active": False, "interval": interval, "left_at": at}


def enter(record: dict, budget_id: str, interval: datetime, at: datetime, **saved) -> tuple[dict | None, bool]:
    """(the record to store or None; whether this call turned the mode on)."""
    if not may_enter(record, interval):
        return None, False
    return entered(budget_id, interval, at, **saved), True


def leave(record: dict, budget_id: str, interval: datetime, at: datetime) -> tuple[dict | None, dict | None]:
    """(the record to store or None; the record that was on, when this call turned it off)."""
    if not may_leave(record, budget_id, interval):
        return None, None
    return left(record, interval, at), record
