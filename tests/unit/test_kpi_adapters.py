"""The report's adapters and its people-facing outputs, without emulators:
- Cloud Monitoring request counts through the real monitoring_v3 client (gRPC) against a
  recording stand-in of MetricService.ListTimeSeries;
- the morning health check's decision and message over fakes;
- the weekly report's files (Markdown, JSON, chart)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from adapters.reports import CloudMonitoringRequests, ReportSource, RequestCounts
from domain.kpi import compute
from functions import health_check, kpi_report
from settings import Settings
from tests import kpi_week as week
from tests.unit.ops_fakes import FakeCaller, MemoryOps, RecordingNotifier

START = datetime(2026, 11, 17, 5, 0, tzinfo=timezone.utc)  # midnight in New York


@pytest.fixture
def monitoring():
    """A gRPC stand-in of MetricService.ListTimeSeries (the client has no REST transport)."""
    from concurrent import futures

    import grpc
    from google.cloud import monitoring_v3

    asked = []

    def list_time_series(request, context):
        asked.append(request)
        hour = lambda h: START + timedelta(hours=h)  # noqa: E731
        return monitoring_v3.ListTimeSeriesResponse(time_series=[
            monitoring_v3.TimeSeries(
                metric={"type": "run.googleapis.com/request_count", "labels": {"response_code_class": cls}},
                points=[monitoring_v3.Point(
                    interval=monitoring_v3.TimeInterval(start_time=hour(h), end_time=hour(h + 1)),
                    value=monitoring_v3.TypedValue(int64_value=n)) for h, n in points])
            for cls, points in (("2xx", [(0, 90), (1, 100)]), ("5xx", [(0, 10)]), ("4xx", [(1, 5)]))])

    handler = grpc.method_handlers_generic_handler("google.monitoring.v3.MetricService", {
        "ListTimeSeries": grpc.unary_unary_rpc_method_handler(
            list_time_series, request_deserializer=monitoring_v3.ListTimeSeriesRequest.deserialize,
            response_serializer=monitoring_v3.ListTimeSeriesResponse.serialize)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", asked
    server.stop(0)


def test_cloud_monitoring_counts_per_hour_with_5xx_as_errors(monitoring):
    import grpc
    from google.cloud import monitoring_v3
    from google.cloud.monitoring_v3.services.metric_service.transports import MetricServiceGrpcTransport

    address, asked = monitoring
    client = monitoring_v3.MetricServiceClient(transport=MetricServiceGrpcTransport(
        channel=grpc.insecure_channel(address)))
    buckets = CloudMonitoringRequests(client, "demo-proj").hourly("pet-cutout-gpu", START, START + timedelta(hours=2))
    assert [(b.start, b.requests, b.errors) for b in buckets] == [(START, 100, 10),
                                                                  (START + timedelta(hours=1), 105, 0)]
    request = asked[0]
    assert request.name == "projects/demo-proj"
    # Every revision's requests (adapters/metrics.run_series, without a revision).
    assert request.filter == ('metric.type = "run.googleapis.com/request_count" AND resource.type = '
                              '"cloud_run_revision" AND resource.labels.service_name = "pet-cutout-gpu"')
    assert request.view == monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL
    assert request.aggregation.alignment_period.total_seconds() == 3600
    assert request.aggregation.per_series_aligner == monitoring_v3.Aggregation.Aligner.ALIGN_DELTA
    assert list(request.aggregation.group_by_fields) == ["metric.labels.response_code_class"]
    assert request.interval.start_time == START


class WeekSource(ReportSource):
    def jobs_queued(self, start, end):
        return [j for j in week.jobs() if "queued" in j.timestamps and start <= j.timestamps["queued"] < end]

    def spend_samples(self, start, end):
        return [s for s in week.spend() if start <= s.at < end]


class WeekRequests(RequestCounts):
    def hourly(self, service, start, end):
        return [b for b in week.buckets() if start <= b.start < end]


HEALTH = {"status": "ok", "revision": "pet-cutout-gpu-00002-abc", "model": {"stage": "ready"},
          "memory": {"rss_bytes": 3 * 2**30, "gpu_bytes": 2**30}, "queue": {"depth": 0}}


def check(caller, store=None, notifier=None):
    notifier = notifier or RecordingNotifier()
    result = health_check.handle(store=store or MemoryOps(), source=WeekSource(), request_counts=WeekRequests(),
                                 caller=caller, notifier=notifier, settings=Settings(), now=week.NOW)
    return result, notifier


def test_health_check_names_yesterdays_violations_and_cost():
    result, notifier = check(FakeCaller({("GET", "health"): (200, json.dumps(HEALTH).encode())}))
    assert result["all_healthy"] is False and len(notifier.texts) == 1
    text = notifier.texts[0]
    assert "Service: healthy: revision pet-cutout-gpu-00002-abc, model ready, queue 0, RSS 3.0 GiB, GPU 1.0 GiB" in text
    assert "$2.50 of the $200.00 daily budget" in text and "KPI violations: 3" in text


def test_all_healthy_needs_the_service_the_kpis_and_the_budget():
    from dataclasses import replace

    targets = kpi_report.load_targets()
    report = compute([week.DAYS[0]], jobs=week.jobs(), buckets=week.buckets(), spend=week.spend(), targets=targets,
                     now=week.NOW)
    assert report.violations == 0  # day 1 met every target
    ok, text = health_check.message(week.DAYS[0], True, "fine", report, targets)
    assert ok and "all healthy" in text.splitlines()[0] and "KPI violations: 0" in text
    assert not health_check.message(week.DAYS[0], False, "down", report, targets)[0]
    poor = replace(targets, daily_budget=1.0)  # $1.25 spent that day
    assert not health_check.message(week.DAYS[0], True, "fine", report, poor)[0]


def test_an_unreachable_or_unready_service_is_unhealthy():
    result, notifier = check(FakeCaller({("GET", "health"): ConnectionError("refused")}))
    assert "UNHEALTHY: unreachable (ConnectionError)" in notifier.texts[0]
    starting = {**HEALTH, "status": "starting"}
    result, notifier = check(FakeCaller({("GET", "health"): (200, json.dumps(starting).encode())}))
    assert "UNHEALTHY" in notifier.texts[0]


def test_a_failed_post_can_be_retried():
    class Down(RecordingNotifier):
        def announce(self, text):
            super().announce(text)
            return False

    store, caller = MemoryOps(), FakeCaller({("GET", "health"): (200, json.dumps(HEALTH).encode())})
    assert check(caller, store, Down())[0]["posted"] is False
    assert check(caller, store)[0]["posted"] is True  # the claim was given back
    assert check(caller, store)[0]["posted"] is False  # and now it is taken


def test_weekly_report_files(tmp_path):
    from reports import weekly

    targets = kpi_report.load_targets()
    report = compute(week.DAYS, jobs=week.jobs(), buckets=week.buckets(), spend=week.spend(), targets=targets,
                     now=week.NOW)
    md, js, png = weekly.write(report, targets, HEALTH, tmp_path)
    text = md.read_text()
    assert "| warm processing p99 | < 8 s | 3.00 s | yes | 1 | 140 |" in text
    assert "| 2026-11-17 | 22 | 2.00 s | 40.00 s | $2.50 | $113.64 |" in text
    assert "![latency and cost per day](weekly-2026-11-17.png)" in text and "- [ ] Investigate" in text
    data = json.loads(js.read_text())
    assert data["kpis"]["violations"] == week.EXPECTED_VIOLATIONS and data["system_health"] == HEALTH
    assert {a["kpi"] for a in data["recommendations"]} == {n for n, v in week.EXPECTED.items() if v[2]}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
