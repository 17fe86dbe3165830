"""The KPI report and the morning health check on a seeded week of jobs and spend in the
Firestore emulator (written through the real adapters), against numbers worked by hand
(tests/kpi_week.py); the health check's message reaches a local Slack webhook."""

import json

import pytest
import requests

from adapters.reports import RequestCounts
from local_stack.stack import Stack
from tests import kpi_week as week
from tests.integration.webhook_recorder import Recorder

pytestmark = pytest.mark.integration


class SeededRequests(RequestCounts):
    """Request counts as dumb as storage: Cloud Monitoring is not emulated (its adapter
    is checked against a REST stand-in in tests/unit/test_kpi_adapters.py)."""

    def __init__(self, buckets):
        self.buckets = buckets

    def hourly(self, service, start, end):
        return [b for b in self.buckets if start <= b.start < end]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, emulators):
    slack = Recorder()
    with Stack(tmp_path_factory.mktemp("kpi"), emulators=emulators,
               env={"SLACK_WEBHOOK_URL": slack.url},
               functions=["kpi_report", "health_check", "prewarm"], cloud_run=True) as running:
        running.slack = slack
        with running.client_env():
            from google.cloud import firestore

            from adapters.jobs import FirestoreJobs
            from adapters.ops_store import FirestoreOps
            from settings import Settings

            db = firestore.Client(project=running.project)  # jobs
            ops_db = firestore.Client(project=running.project, database=Settings().ops_database)  # spend log
            jobs, store = FirestoreJobs(db), FirestoreOps(ops_db)
            for job in week.jobs():
                jobs.create(job)
            for s in week.spend():  # Billing's repeats land on the same document
                store.record_spend(s.budget_id, s.interval_start, at=s.at, cost=s.cost, budget=6200.0,
                                   currency="USD", fraction=s.cost / 6200.0)
        yield running
    slack.close()


def test_the_report_on_the_seeded_week_matches_the_hand_worked_numbers(stack):
    from bootstrap import Operations
    from functions import kpi_report
    from settings import Settings

    with stack.client_env():
        ops = Operations(Settings())
        targets = kpi_report.load_targets()
        report = kpi_report.build(week.DAYS[-1], 7, source=ops.report_source,
                                  request_counts=SeededRequests(week.buckets()), service="pet-cutout-gpu",
                                  targets=targets, now=week.NOW)
    got = {r.kpi.name: (r.value, r.samples, r.violations) for r in report.results}
    for name, (value, samples, violations) in week.EXPECTED.items():
        assert got[name][0] == pytest.approx(value, abs=1e-9), name
        assert got[name][1:] == (samples, violations), name
    assert report.violations == week.EXPECTED_VIOLATIONS
    print("\n" + kpi_report.table(report, targets))


def test_the_function_answers_json_and_a_table(stack):
    url = stack.url("kpi_report") + "/"
    query = {"end": week.DAYS[-1].isoformat(), "days": "7"}
    body = requests.get(url, params=query, timeout=60).json()
    kpis = {k["name"]: k for k in body["kpis"]}
    # From Firestore alone (the local router served no request in the seeded week: no availability).
    assert kpis["warm_p99"]["value"] == 3.0 and kpis["warm_p99"]["violations"] == 1
    assert kpis["cold_start_p95"]["value"] == 40.0 and kpis["cold_start_p95"]["violations"] == 2
    assert kpis["error_rate"]["value"] == pytest.approx(2 / 156)
    assert kpis["cost_per_1000_images"]["value"] == pytest.approx(8.75 / 132 * 1000)
    assert kpis["availability"]["value"] is None and kpis["availability"]["violations"] == 0
    assert body["daily_cost"]["2026-11-14"] is None and body["daily_cost"]["2026-11-17"] == 2.5
    table = requests.get(url, params={**query, "format": "table"}, timeout=60)
    assert table.headers["Content-Type"].startswith("text/plain")
    assert "warm processing p99" in table.text and "$66.29" in table.text
    bad = requests.get(url, params={"days": "zero"}, timeout=60)
    assert bad.status_code == 400 and "whole number" in bad.text


def test_the_morning_check_posts_once_and_says_not_all_healthy(stack):
    from bootstrap import Operations
    from functions import health_check
    from settings import Settings

    before = len(stack.slack.posts)
    with stack.client_env():
        # What the deployed function reads from its secret.
        ops = Operations(Settings(slack_webhook_url=stack.slack.url))
        run = lambda: health_check.handle(store=ops.store, source=ops.report_source,  # noqa: E731
                                          request_counts=SeededRequests(week.buckets()), caller=ops.caller,
                                          notifier=ops.notifier, settings=ops.settings, now=week.NOW)
        first, second = run(), run()
    assert first["posted"] and not first["all_healthy"]
    assert second == {"day": week.YESTERDAY.isoformat(), "posted": False, "note": "already posted for this day"}
    texts = [p["text"] for p in stack.slack.posts[before:]]
    assert len(texts) == 1
    text = texts[0]
    print("\n" + text)
    assert text.startswith("Morning health check for Tue 2026-11-17 (America/New_York): NOT all healthy")
    assert "- Service: healthy: revision pet-cutout-gpu-" in text  # K_REVISION of the local Cloud Run's revision
    assert "- Yesterday's cost: $2.50 of the $200.00 daily budget (22 images)" in text
    assert f"- KPI violations: {week.YESTERDAY_VIOLATIONS}: cold start p99 40.00 s (target < 35 s)" in text


def test_the_scheduled_job_reaches_the_function(stack):
    """Fired as Cloud Scheduler fires it, on today's real clock: yesterday has no data here."""
    before = len(stack.slack.posts)
    assert stack.scheduler.fire_now("morning-health") == 200
    text = stack.slack.posts[before]["text"]
    print("\n" + text)
    assert "NOT all healthy" in text and "Yesterday's cost: no spend recorded" in text


def test_gpu_health_reports_state_memory_queue_and_revision(stack):
    health = requests.get(stack.url("gpu") + "/health", timeout=30).json()
    assert health["status"] == "ok" and health["model"]["stage"] == "ready" and health["model"]["progress"] == 1.0
    assert health["memory"]["rss_bytes"] > 10 * 2**20 and health["memory"]["gpu_bytes"] == 0  # u2netp on the CPU
    assert health["queue"]["depth"] == 0 and health["revision"].startswith("pet-cutout-gpu-")
    print("\n" + json.dumps(health, indent=2))


def test_the_cli_prints_the_table_and_writes_the_weekly_report(stack, tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, **stack.env, "PYTHONPATH": os.getcwd()}
    args = ["--end", week.DAYS[-1].isoformat(), "--days", "7"]
    table = subprocess.run([sys.executable, "-m", "reports", "kpi", *args], env=env, capture_output=True, text=True,
                           timeout=120, check=True).stdout
    assert table.startswith("KPIs 2026-11-11 to 2026-11-17 (America/New_York)")
    assert "cost per 1,000 images" in table and "$66.29" in table
    written = subprocess.run([sys.executable, "-m", "reports", "weekly", *args, "--out", str(tmp_path),
                              "--gpu-url", stack.url("gpu")], env=env, capture_output=True, text=True, timeout=180,
                             check=True).stdout.split()
    assert [p.rsplit("/", 1)[-1] for p in written] == ["weekly-2026-11-17.md", "weekly-2026-11-17.json",
                                                       "weekly-2026-11-17.png"]
    text = (tmp_path / "weekly-2026-11-17.md").read_text()
    assert "| 2026-11-17 | 22 | 2.00 s | 40.00 s | $2.50 | $113.64 |" in text and '"status": "ok"' in text
    bad = subprocess.run([sys.executable, "-m", "reports", "kpi", "--days", "0"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "--days must be between 1 and 92" in bad.stderr
