"""The cost report's warm-up figures on a seeded day, against numbers worked by hand."""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from domain.jobs import Job, State
from domain.warmups import figures
from functions import cost_report
from tests.fakes import FakeJobs
from tests.unit.ops_fakes import MemoryOps

NY = ZoneInfo("America/New_York")
DAY = date(2026, 11, 3)


def at(hh, mm, ss=0, day=DAY):
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=NY).astimezone(timezone.utc)


def seeded() -> tuple[MemoryOps, FakeJobs]:
    store, jobs = MemoryOps(), FakeJobs()
    # Warm-ups (store time): 09:00, 09:20, 09:30, 14:00; and 23:58 the day before.
    store.warmups += [at(9, 0), at(9, 20), at(9, 30), at(14, 0), at(23, 58, day=DAY - timedelta(days=1))]
    # Uploads: 09:04 and 09:08 (after the 09:00 one), 09:45, 09:50 (15 and 20 min after 09:30: cold),
    # 00:05 (7 min after the day before's 23:58: warm), 13:00 (no warm-up before it), and one the next day.
    uploads = [at(9, 4), at(9, 8), at(9, 45), at(9, 50), at(0, 5), at(13, 0), at(9, 1, day=DAY + timedelta(days=1))]
    for n, queued in enumerate(uploads):
        jobs.create(Job(f"job-{n}", State.QUEUED, timestamps={"queued": queued}))
    jobs.create(Job("never-uploaded", State.AWAITING_UPLOAD))  # no queued time: not an upload
    return store, jobs


def test_the_days_warm_up_figures_match_the_hand_worked_numbers():
    store, jobs = seeded()
    report = cost_report.handle(store=store, jobs=jobs, day=DAY)["warmups"]
    # By hand. Instance time each warm-up bought, until the first upload after it, the next
    # warm-up, or 15 idle minutes:
    #   09:00 -> upload 09:04         240 s
    #   09:20 -> warm-up 09:30        600 s
    #   09:30 -> 15 min (09:45 is the upload, at the same 15 min) 900 s
    #   14:00 -> 15 min (nothing follows)                          900 s
    #   the day before's 23:58 is not today's cost.               = 2640 s
    # Uploads within 10 minutes of a warm-up: 09:04, 09:08, 00:05 = 3 (09:45, 09:50, 13:00 were cold).
    assert report == {"day": "2026-11-03", "time_zone": "America/New_York", "warmups": 4,
                      "per_hour": {"09:00": 3, "14:00": 1}, "instance_seconds": 2640.0,
                      "instance_hours": 0.733, "uploads_at_warm_service": 3}


def test_a_day_without_warm_ups_costs_nothing_and_saves_nothing():
    f = figures([], [at(9, 0)], warm_for=timedelta(minutes=10))
    assert (f.warmups, f.instance_seconds, f.uploads_at_warm_service, f.per_hour) == (0, 0.0, 0, {})


def test_the_spend_part_is_unchanged():
    report = cost_report.handle(store=MemoryOps(), jobs=FakeJobs(), day=DAY)
    assert report["spend"] is None and report["plan_ceiling_per_1000"] == 65.0
