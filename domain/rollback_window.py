"""At most one automatic rollback per service per window. Plain rules, no I/O.

The service's record holds `last_rollback_at`. Each rule takes the record as
stored (`{}` when there is none) and returns (the record to store, or None to
leave it as it is; the answer). adapters/ops_store.py applies them in a transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def take_slot(record: dict, window: timedelta, now: datetime) -> tuple[dict | None, bool]:
    """Refused while the last rollback is younger than `window`."""
    last = record.get("last_rollback_at")
    if last and now - last < window:
        return None, False
    return {**record, "last_rollback_at": now}, True


def release_slot(record: dict, taken_at: datetime) -> tuple[dict | None, None]:
    """Give the slot back after a failed rollback, unless a later one took it meanwhile."""
    if record.get("last_rollback_at") != taken_at:
        return None, None
    return {**record, "last_rollback_at": None}, None
