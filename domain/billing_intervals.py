"""Which billing interval a budget notification speaks for. Plain rules, no I/O.

Cloud Billing sends the running cost of the current interval several times a
day and Pub/Sub may deliver an old one late; only the newest interval may act.
The record holds the newest `interval` seen (`{}` when there is none).
"""

from __future__ import annotations

from datetime import datetime


def note(record: dict, interval: datetime) -> tuple[dict | None, bool]:
    """(the record to store or None; False when `interval` is older than the newest seen: stale)."""
    newest = record.get("interval")
    if newest and interval < newest:
        return None, False
    return ({"interval": interval} if newest != interval else None), True
