"""The windows as data: a simulated clock across a day, the holiday switch, bad data."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from scheduler.policy import decide
from scheduler.windows import ScheduleError, default_schedule, parse_schedule, window_at

NY = ZoneInfo("America/New_York")


def at(y, m, d, hh, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=NY)


def expected_normal(hour: int) -> tuple[str, int, int, bool]:
    if 18 <= hour < 22:
        return ("peak", 1, 5, False)
    if 9 <= hour < 18:
        return ("business", 0, 3, True)
    return ("off", 0, 2, False)


def test_a_day_of_five_minute_ticks_out_of_season():
    """Every tick of a November day: the scaling the issue asks for, and a warm-up only
    in business hours, only when no job finished in the last 10 minutes."""
    tick = at(2026, 11, 3, 0, 0)
    seen = set()
    while tick < at(2026, 11, 4, 0, 0):
        name, lo, hi, warm = expected_normal(tick.hour)
        w = window_at(tick.astimezone(timezone.utc))  # the pre-warm function gets UTC
        assert (w.name, w.min_instances, w.max_instances, w.warmup) == (name, lo, hi, warm), tick
        cold = decide(tick, last_job_finished_at=None, warmups_last_hour=0, emergency=False)
        warm_now = decide(tick, last_job_finished_at=tick - timedelta(minutes=3), warmups_last_hour=0,
                          emergency=False)
        assert (cold.min_instances, cold.max_instances, cold.warmup) == (lo, hi, warm)
        assert warm_now.warmup is False
        seen.add(name)
        tick += timedelta(minutes=5)
    assert seen == {"peak", "business", "off"}


def test_window_edges_start_inclusive_end_exclusive():
    assert window_at(at(2026, 3, 10, 17, 59)).name == "business"
    assert window_at(at(2026, 3, 10, 18, 0)).name == "peak"
    assert window_at(at(2026, 3, 10, 21, 59)).name == "peak"
    assert window_at(at(2026, 3, 10, 22, 0)).name == "off"
    assert window_at(at(2026, 3, 10, 8, 59)).name == "off"
    assert window_at(at(2026, 3, 10, 9, 0)).name == "business"


def test_holiday_switch_on_nov_15_and_off_after_dec_31():
    assert window_at(at(2026, 11, 14, 23, 59)).name == "off"
    assert window_at(at(2026, 11, 15, 0, 0)).name == "holiday-off"
    assert window_at(at(2026, 11, 15, 19, 0)).name == "holiday-peak"
    assert window_at(at(2026, 12, 31, 19, 0)).name == "holiday-peak"
    assert window_at(at(2027, 1, 1, 19, 0)).name == "peak"
    holiday_peak = window_at(at(2026, 12, 1, 20, 0))
    assert holiday_peak.min_instances >= 1 and holiday_peak.max_instances > 5


def test_a_holiday_day_ticks_through_its_own_windows():
    names = []
    tick = at(2026, 12, 5, 0, 0)
    while tick < at(2026, 12, 6, 0, 0):
        d = decide(tick, last_job_finished_at=None, warmups_last_hour=0, emergency=False)
        names.append(d.window.name)
        assert d.min_instances <= d.max_instances
        assert d.warmup == (d.window.warmup and d.window.min_instances == 0)
        tick += timedelta(minutes=5)
    assert set(names) == {"holiday-peak", "holiday-day", "holiday-off"}


def test_the_switch_is_in_new_york_time_not_utc():
    # 03:30 UTC on Nov 15 is still Nov 14, 22:30 in New York: out of season.
    assert window_at(datetime(2026, 11, 15, 3, 30, tzinfo=timezone.utc)).name == "off"
    # 23:30 UTC on a July day is 19:30 in New York (EDT): the peak.
    assert window_at(datetime(2026, 7, 1, 23, 30, tzinfo=timezone.utc)).name == "peak"
    # After the clocks change (EST), 23:30 UTC is 18:30: still the peak.
    assert window_at(datetime(2026, 11, 3, 23, 30, tzinfo=timezone.utc)).name == "peak"


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="time-zone-aware"):
        window_at(datetime(2026, 7, 1, 12, 0))


def test_the_shipped_schedule_names_its_cloud_scheduler_jobs():
    s = default_schedule()
    assert s.time_zone == "America/New_York"
    assert s.jobs and all(j.cron.count(" ") == 4 for j in s.jobs)
    assert s.job_prefix


def minimal(**changes) -> dict:
    raw = {"windows": [{"name": "day", "start": "08:00", "end": "20:00", "min_instances": 1, "max_instances": 2},
                       {"name": "night", "min_instances": 0, "max_instances": 1}]}
    raw.update(changes)
    return raw


def test_a_window_across_midnight():
    s = parse_schedule({"windows": [
        {"name": "late", "start": "22:00", "end": "02:00", "min_instances": 1, "max_instances": 2},
        {"name": "rest", "min_instances": 0, "max_instances": 1}]})
    assert s.window_at(at(2026, 5, 1, 23, 0)).name == "late"
    assert s.window_at(at(2026, 5, 2, 1, 59)).name == "late"
    assert s.window_at(at(2026, 5, 2, 2, 0)).name == "rest"


def test_a_season_across_new_year():
    s = parse_schedule(minimal(seasons=[{"name": "winter", "from": "12-20", "to": "01-05", "windows": [
        {"name": "w", "min_instances": 0, "max_instances": 1}]}]))
    assert s.window_at(at(2026, 12, 25, 12)).name == "w"
    assert s.window_at(at(2027, 1, 5, 12)).name == "w"
    assert s.window_at(at(2027, 1, 6, 12)).name == "day"


@pytest.mark.parametrize("raw, words", [
    (minimal(windows=[]), "no windows"),
    (minimal(windows=[{"name": "x", "start": "08:00", "end": "09:00", "min_instances": 0, "max_instances": 1}]),
     "last window"),
    (minimal(windows=[{"name": "x", "min_instances": 3, "max_instances": 1}]), "min_instances"),
    (minimal(windows=[{"name": False, "min_instances": 0, "max_instances": 1}]), "string name"),
    (minimal(windows=[{"name": "x", "start": "8am", "end": "9", "min_instances": 0, "max_instances": 1},
                      {"name": "y", "min_instances": 0, "max_instances": 1}]), "HH:MM"),
    (minimal(seasons=[{"name": "s", "from": "02-30", "to": "03-01", "windows": [
        {"name": "w", "min_instances": 0, "max_instances": 1}]}]), "MM-DD"),
    (minimal(windows=[{"name": "x", "max_instances": 1}]), "min_instances"),
])
def test_malformed_schedules_are_refused_with_a_reason(raw, words):
    with pytest.raises(ScheduleError, match=words):
        parse_schedule(raw)
