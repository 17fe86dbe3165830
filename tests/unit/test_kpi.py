"""The KPI rules (domain/kpi.py) on the seeded week, against numbers worked by hand (tests/kpi_week.py)."""

from datetime import datetime, timedelta

import pytest

from domain.jobs import Job, State
from domain.kpi import SpendSample, all_healthy, compute, daily_costs, percentile
from domain.kpi_targets import parse_targets
from functions import kpi_report
from tests import kpi_week as week


@pytest.fixture(scope="module")
def targets():
    return kpi_report.load_targets()


@pytest.fixture(scope="module")
def report(targets):
    return compute(week.DAYS, jobs=week.jobs(), buckets=week.buckets(), spend=week.spend(), targets=targets,
                   now=week.NOW)


def test_the_seeded_week_matches_the_hand_worked_numbers(report):
    got = {r.kpi.name: (r.value, r.samples, r.violations) for r in report.results}
    assert set(got) == set(week.EXPECTED)
    for name, (value, samples, violations) in week.EXPECTED.items():
        assert got[name][0] == pytest.approx(value, abs=1e-12), name
        assert got[name][1:] == (samples, violations), name
    assert report.violations == week.EXPECTED_VIOLATIONS


def test_daily_values_and_which_day_missed(report):
    by_name = {r.kpi.name: r for r in report.results}
    d = week.DAYS
    assert by_name["warm_p99"].daily[d[2]] == 9.0
    assert by_name["error_rate"].daily[d[2]] == pytest.approx(1 / 23)
    assert by_name["valid_success_rate"].daily[d[4]] == pytest.approx(22 / 23)
    assert by_name["availability_peak"].daily[d[1]] == pytest.approx(1 - 1 / 400)
    # Outside the season the holiday KPI has no value, and so no violation.
    assert [by_name["availability_holiday"].daily[day] for day in d[:4]] == [None] * 4
    assert by_name["availability_holiday"].daily[d[4]] == pytest.approx(1 - 1 / 2400)
    assert by_name["cost_per_1000_images"].daily[d[3]] is None  # no spend recorded that day
    assert report.daily_cost == {**{day: 1.25 for day in d}, d[3]: None, d[6]: 2.5}
    assert (by_name["cold_start_p95"].met, by_name["cost_per_1000_images"].met) == (False, False)


def test_jobs_in_flight_are_not_counted_yet(targets):
    queued = datetime.combine(week.DAYS[-1], datetime.min.time(), week.TZ) + timedelta(hours=23, minutes=50)
    job = Job(job_id="fresh", state=State.PROCESSING, timestamps={"queued": queued})
    fresh = compute(week.DAYS, jobs=[job], buckets=[], spend=[], targets=targets, now=queued + timedelta(minutes=5))
    later = compute(week.DAYS, jobs=[job], buckets=[], spend=[], targets=targets, now=queued + timedelta(hours=2))
    assert fresh.totals.valid == 0 and fresh.violations == 0
    assert later.totals.errors == 1  # stuck past stuck_after_minutes: an error


def test_nearest_rank_percentile():
    assert percentile([], 95) is None
    assert percentile([5.0], 99) == 5.0
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([1, 2, 3, 4], 50) == 2


def test_daily_costs_count_each_rise_once(targets):
    t = week.INTERVAL
    samples = [SpendSample(t + timedelta(hours=20), "b", t, 10.0), SpendSample(t + timedelta(hours=30), "b", t, 12.0),
               SpendSample(t + timedelta(hours=31), "b", t, 11.0),  # late, older figure: adds nothing
               SpendSample(t + timedelta(hours=40), "b", t + timedelta(days=30), 3.0)]  # a new interval
    days = daily_costs(samples, targets.tz)
    # Seen on Nov 1 22:00, Nov 2 08:00 and 18:00 New York time.
    assert days == {week.DAYS[0].replace(day=1): 10.0, week.DAYS[0].replace(day=2): 2.0 + 3.0}


def test_all_healthy_only_when_all_three_hold():
    assert all_healthy(service_ok=True, violations=0, cost=199.0, daily_budget=200)
    assert not all_healthy(service_ok=False, violations=0, cost=1.0, daily_budget=200)
    assert not all_healthy(service_ok=True, violations=1, cost=1.0, daily_budget=200)
    assert not all_healthy(service_ok=True, violations=0, cost=200.0, daily_budget=200)
    assert not all_healthy(service_ok=True, violations=0, cost=None, daily_budget=200)  # unknown is not healthy


def test_targets_are_data_and_every_plan_kpi_is_there(targets):
    assert {k.name for k in targets.kpis} == set(week.EXPECTED)
    assert targets.get("warm_p95").describe() == "< 5 s" and targets.get("availability").describe() == "> 99.5 %"
    with pytest.raises(ValueError, match="exactly one"):
        parse_targets({"daily_budget": 1, "kpis": [{"name": "x", "max": 1, "min": 0}]})


def test_a_changed_target_changes_the_violations(targets):
    from dataclasses import replace

    looser = replace(targets, kpis=tuple(replace(k, limit=10.0) if k.name == "warm_p99" else k for k in targets.kpis))
    report = compute(week.DAYS, jobs=week.jobs(), buckets=[], spend=[], targets=looser, now=week.NOW)
    assert next(r for r in report.results if r.kpi.name == "warm_p99").violations == 0


def test_query_errors_are_clear(targets):
    now = week.NOW
    for args, text in (({"days": "x"}, "whole number"), ({"days": "0"}, "between"), ({"end": "2026-13-01"}, "date"),
                       ({"end": "2026-11-18"}, "before today"), ({"format": "xml"}, "json or table")):
        with pytest.raises(kpi_report.BadRequest, match=text):
            kpi_report.parse_query(args, now, targets)
    assert kpi_report.parse_query({}, now, targets) == (week.DAYS[-1], 7, "json")


def test_labels_survive_yaml(targets):
    assert targets.get("cost_per_1000_images").label == "cost per 1,000 images"


def test_the_started_event_marks_a_cold_start_and_a_repeat_changes_nothing():
    from events.schemas import JobEvent
    from functions.job_events import apply

    job = Job(job_id="j", state=State.QUEUED, timestamps={"queued": week.NOW})
    assert apply(job, JobEvent(job_id="j", kind="started", cold_start=True)) and job.cold_start
    assert not apply(job, JobEvent(job_id="j", kind="started", cold_start=True))
    assert apply(job, JobEvent(job_id="j", kind="succeeded")) and job.cold_start
