"""The warm-up policy's rules, on the shipped windows."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from scheduler.policy import decide
from scheduler.windows import parse_schedule

NY = ZoneInfo("America/New_York")
BUSINESS = datetime(2026, 3, 10, 11, 0, tzinfo=NY)   # min 0, warm-ups on
PEAK = datetime(2026, 3, 10, 19, 0, tzinfo=NY)       # min 1: already warm
OFF = datetime(2026, 3, 10, 3, 0, tzinfo=NY)         # no warm-ups


def go(now, **kw):
    args = {"last_job_finished_at": None, "warmups_last_hour": 0, "emergency": False}
    return decide(now, **{**args, **kw})


def test_business_hours_with_a_cold_service_ping():
    d = go(BUSINESS)
    assert d.warmup and (d.min_instances, d.max_instances) == (0, 3)
    assert d.window.name == "business"


def test_no_ping_if_a_job_finished_in_the_last_ten_minutes():
    assert not go(BUSINESS, last_job_finished_at=BUSINESS - timedelta(minutes=9, seconds=59)).warmup
    assert "finished" in go(BUSINESS, last_job_finished_at=BUSINESS - timedelta(minutes=2)).reason
    assert go(BUSINESS, last_job_finished_at=BUSINESS - timedelta(minutes=10)).warmup


def test_at_most_twenty_pings_an_hour():
    assert go(BUSINESS, warmups_last_hour=19).warmup
    d = go(BUSINESS, warmups_last_hour=20)
    assert not d.warmup and "cap" in d.reason


def test_emergency_cost_mode_scales_to_zero_with_at_most_two_and_no_pings():
    for now in (BUSINESS, PEAK, OFF):
        d = go(now, emergency=True)
        assert (d.min_instances, d.max_instances, d.warmup) == (0, 2, False)
        assert "emergency" in d.reason


def test_windows_without_warm_ups_never_ping():
    assert not go(OFF).warmup
    peak = go(PEAK)
    assert not peak.warmup and (peak.min_instances, peak.max_instances) == (1, 5)


def test_emergency_never_raises_a_lower_max():
    s = parse_schedule({"windows": [{"name": "tiny", "min_instances": 1, "max_instances": 1, "warmup": True}]})
    d = decide(BUSINESS, last_job_finished_at=None, warmups_last_hour=0, emergency=True, schedule=s)
    assert (d.min_instances, d.max_instances) == (0, 1)


def test_a_window_with_min_instances_needs_no_ping():
    s = parse_schedule({"windows": [{"name": "warm", "min_instances": 1, "max_instances": 2, "warmup": True}]})
    d = decide(BUSINESS, last_job_finished_at=None, warmups_last_hour=0, emergency=False, schedule=s)
    assert not d.warmup and "keeps 1" in d.reason


def test_policy_numbers_are_data():
    s = parse_schedule({"windows": [{"name": "w", "min_instances": 0, "max_instances": 4, "warmup": True}],
                        "policy": {"warm_for_minutes": 2, "max_warmups_per_hour": 3,
                                   "emergency_max_instances": 1}})
    kw = {"emergency": False, "schedule": s}
    assert decide(BUSINESS, last_job_finished_at=BUSINESS - timedelta(minutes=3), warmups_last_hour=2, **kw).warmup
    assert not decide(BUSINESS, last_job_finished_at=None, warmups_last_hour=3, **kw).warmup
    assert decide(BUSINESS, last_job_finished_at=None, warmups_last_hour=0, emergency=True,
                  schedule=s).max_instances == 1
