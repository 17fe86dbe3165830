"""The operations rules themselves (domain/), on plain records: what the stores apply in a transaction."""

from datetime import datetime, timedelta, timezone

from domain import billing_intervals, emergency, rollback_window
from tests.unit.ops_fakes import MemoryOps

T0 = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
WINDOW = timedelta(minutes=30)


def test_one_rollback_per_window():
    record, taken = rollback_window.take_slot({}, WINDOW, T0)
    assert taken and record == {"last_rollback_at": T0}
    assert rollback_window.take_slot(record, WINDOW, T0 + WINDOW - timedelta(seconds=1)) == (None, False)
    later, taken = rollback_window.take_slot(record, WINDOW, T0 + WINDOW)
    assert taken and later["last_rollback_at"] == T0 + WINDOW


def test_a_released_slot_is_free_again_but_not_a_later_ones():
    record, _ = rollback_window.take_slot({}, WINDOW, T0)
    freed, _ = rollback_window.release_slot(record, T0)
    assert rollback_window.take_slot(freed, WINDOW, T0 + timedelta(seconds=1))[1]
    assert rollback_window.release_slot(record, T0 - timedelta(minutes=1)) == (None, None)


def test_only_the_newest_billing_interval_acts():
    november, december = T0.replace(month=11, day=1), T0.replace(day=1)
    record, fresh = billing_intervals.note({}, december)
    assert fresh and record == {"interval": december}
    assert billing_intervals.note(record, december) == (None, True)   # the same interval again: acts, nothing to write
    assert billing_intervals.note(record, november) == (None, False)  # late, older: stale


def test_emergency_mode_is_entered_once_and_left_only_by_its_budget_next_interval():
    interval = T0.replace(day=1)
    record, entered = emergency.enter({}, "gpu", interval, T0, saved_max_instances=5)
    assert entered and record["active"] and record["saved_max_instances"] == 5
    assert emergency.enter(record, "gpu", interval, T0) == (None, False)
    assert emergency.leave(record, "other-budget", interval + timedelta(days=31), T0) == (None, None)
    assert emergency.leave(record, "gpu", interval, T0) == (None, None)  # the same interval: stays on
    off, was = emergency.leave(record, "gpu", interval + timedelta(days=31), T0)
    assert was == record and not off["active"]
    assert emergency.enter(off, "gpu", interval, T0) == (None, False)  # an older interval cannot turn it back on


def test_the_store_applies_the_rules_and_only_stores():
    store = MemoryOps()
    assert store.take_rollback_slot("gpu", WINDOW, T0)
    assert not store.take_rollback_slot("gpu", WINDOW, T0 + timedelta(minutes=1))
    assert store.take_rollback_slot("other", WINDOW, T0)  # per service
    assert store.records["rollback-gpu"] == {"last_rollback_at": T0}
    assert store.emergency() is None
    assert store.enter_emergency("gpu", T0, saved_min_instances=1)
    assert store.emergency()["saved_min_instances"] == 1
