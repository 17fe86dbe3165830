"""A seeded week of jobs, request counts and spend, and its KPIs worked out by hand.

The week is Wed 2026-11-11 to Tue 2026-11-17 in America/New_York (EST all week, UTC-5;
the holiday season starts on Nov 15, so days 5-7 are in it). The report runs on
Wed 2026-11-18 at 07:00 EST.

Each day (d = 1..7), queued from 12:00 local:
- 19 warm jobs done in 2.0 s and one in WARM_SLOW[d] s;
- 2 cold-start jobs, done in 20 s and in COLD_SLOW[d] s;
- 2 uploads rejected at intake (never queued: not counted anywhere);
- day 3: one job failed with a system reason (dead_letter), one with bad_image (a user error);
- day 5: one job queued at 12:30 and never processed (stuck: > 60 min before the report).
Request counts: 100 requests every local hour, none 5xx, except day 2 19:00 (1 error, in
the 18-22 peak), day 5 10:00 (1 error) and day 6 03:00 (20 errors).
Spend: a monthly budget's running cost, twice a day (10:00 and 20:00), rising by
DAY_COST[d] / 2 each time (each seen twice, as Billing repeats itself); none on day 4.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.jobs import Job, State
from domain.kpi import RequestBucket, SpendSample

TZ = ZoneInfo("America/New_York")
DAYS = [date(2026, 11, 11) + timedelta(days=i) for i in range(7)]
NOW = datetime(2026, 11, 18, 7, 0, tzinfo=TZ)
WARM_SLOW = [3.0, 3.0, 9.0, 3.0, 3.0, 3.0, 3.0]
COLD_SLOW = [25.0, 25.0, 25.0, 33.0, 25.0, 25.0, 40.0]
DAY_COST = [1.25, 1.25, 1.25, None, 1.25, 1.25, 2.5]  # binary-exact halves
BUDGET, INTERVAL = "budget-1", datetime(2026, 11, 1, 7, 0, tzinfo=ZoneInfo("UTC"))
PRIOR_COST = 1000.0  # the month's spend before the week, seen on Nov 10


def _job(job_id: str, queued: datetime, state: State, seconds: float | None = None, *, cold=False,
         reason="") -> Job:
    stamps = {"awaiting_upload": queued - timedelta(seconds=5), "queued": queued}
    if state in (State.DONE, State.FAILED):
        stamps["processing"] = queued + timedelta(seconds=0.5)
        stamps[state.value] = queued + timedelta(seconds=seconds or 1.0)
    return Job(job_id=job_id, state=state, timestamps=stamps, cold_start=cold, reason=reason)


def jobs() -> list[Job]:
    out = []
    for d, day in enumerate(DAYS):
        at = lambda minute, day=day: datetime.combine(day, time(12, 0), TZ) + timedelta(minutes=minute)  # noqa: E731
        for i in range(19):
            out.append(_job(f"d{d}-w{i}", at(i), State.DONE, 2.0))
        out.append(_job(f"d{d}-wslow", at(19), State.DONE, WARM_SLOW[d]))
        out.append(_job(f"d{d}-c0", at(20), State.DONE, 20.0, cold=True))
        out.append(_job(f"d{d}-c1", at(21), State.DONE, COLD_SLOW[d], cold=True))
        for i in range(2):
            rejected = Job(job_id=f"d{d}-r{i}", state=State.REJECTED, reason="not_an_image",
                           timestamps={"awaiting_upload": at(22 + i), "rejected": at(22 + i)})
            out.append(rejected)
        if d == 2:
            out.append(_job(f"d{d}-fail", at(25), State.FAILED, 3.0, reason="dead_letter"))
            out.append(_job(f"d{d}-bad", at(26), State.FAILED, 1.0, reason="bad_image"))
        if d == 4:
            out.append(_job(f"d{d}-stuck", at(30), State.QUEUED))
    return out


def buckets() -> list[RequestBucket]:
    errors = {(1, 19): 1, (4, 10): 1, (5, 3): 20}
    return [RequestBucket(datetime.combine(day, time(hour), TZ), 100, errors.get((d, hour), 0))
            for d, day in enumerate(DAYS) for hour in range(24)]


def spend() -> list[SpendSample]:
    seen = datetime.combine(DAYS[0] - timedelta(days=1), time(23, 0), TZ)
    out = [SpendSample(seen, BUDGET, INTERVAL, PRIOR_COST)]
    cost = PRIOR_COST
    for day, rise in zip(DAYS, DAY_COST, strict=True):
        if rise is None:
            continue
        for hour in (10, 20):
            cost += rise / 2
            at = datetime.combine(day, time(hour), TZ)
            out += [SpendSample(at, BUDGET, INTERVAL, cost), SpendSample(at + timedelta(minutes=30), BUDGET,
                                                                         INTERVAL, cost)]
    return out


# --- Worked by hand -------------------------------------------------------------
# Nearest-rank percentile of n values: the ceil(p/100 * n)-th smallest.
# warm, a day: 20 values, 19 x 2.0 and WARM_SLOW[d]: p95 = 19th = 2.0, p99 = 20th = WARM_SLOW[d]
#   (day 3: 9.0 >= 8: one violation). The week: 140 values, 133 x 2.0, 6 x 3.0, one 9.0:
#   p95 = 133rd = 2.0; p99 = ceil(138.6) = 139th = 3.0.
# cold, a day: 2 values (20, COLD_SLOW[d]): p95 = p99 = 2nd = COLD_SLOW[d]
#   (p95 >= 30 on days 4 and 7; p99 >= 35 on day 7). The week: 14 values; 14th = 40.0 for both.
# error rate: (system failures + stuck) / (valid - user errors). Day 3: 1 / (24 - 1) = 4.35 %;
#   day 5: 1 / 23; others 0 / 22. The week: valid 7*22 + 2 + 1 = 157; 2 / 156 = 1.282 %.
# success on valid photos: done / valid. Day 3: 22/24 = 91.67 % (violation); day 5: 22/23 = 95.65 %.
#   The week: 154 / 157 = 98.09 %.
# availability, a day: 2,400 requests. Day 6: 1 - 20/2400 = 99.167 % (the one violation).
#   The week: 1 - 22/16800 = 99.869 %.
#   peak (18-22 local, 400 a day): day 2: 1 - 1/400 = 99.75 % < 99.9 %. The week: 1 - 1/2800 = 99.964 %.
#   holiday (days 5-7): day 5: 1 - 1/2400 = 99.958 % > 99.95 % (met); day 6: 99.167 % (violation).
#   The week: 1 - 21/7200 = 99.708 % (missed).
# cost per 1,000: day d: DAY_COST[d] / 22 * 1000 = 56.82 (day 7: 2.5 / 22 * 1000 = 113.64, violation);
#   day 4 has no spend: not priced, and its 22 images do not count. The week: 8.75 / 132 * 1000 = 66.29.
EXPECTED = {
    # name: (value over the week, samples, violation days)
    "cold_start_p99": (40.0, 14, 1),
    "cold_start_p95": (40.0, 14, 2),
    "warm_p95": (2.0, 140, 0),
    "warm_p99": (3.0, 140, 1),
    "error_rate": (2 / 156, 156, 2),
    "valid_success_rate": (154 / 157, 157, 1),
    "availability": (1 - 22 / 16800, 16800, 1),
    "availability_peak": (1 - 1 / 2800, 2800, 1),
    "availability_holiday": (1 - 21 / 7200, 7200, 1),
    "cost_per_1000_images": (8.75 / 132 * 1000, 132, 1),
}
EXPECTED_VIOLATIONS = 11
# Yesterday for the morning check on NOW is day 7: cold p95 and p99 at 40 s and $113.64 per
# 1,000 images miss; $2.50 is under the $200 budget; so "NOT all healthy" even when the service is.
YESTERDAY = DAYS[-1]
YESTERDAY_VIOLATIONS = 3
