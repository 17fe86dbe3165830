from datetime import datetime, timedelta, timezone

from google.cloud import monitoring_v3

from adapters.metrics import CloudMonitoringMetrics


class RecordingMonitoring:
    """Answers list_time_series like Cloud Monitoring, and keeps the requests."""

    def __init__(self):
        self.requests = []

    def list_time_series(self, request):
        self.requests.append(request)
        query, aligner = request["filter"], request["aggregation"].per_series_aligner
        if "request_count" in query:
            return [self._series({"response_code": "200"}, int64_value=90),
                    self._series({"response_code": "503"}, int64_value=5),
                    self._series({"response_code": "500"}, int64_value=5)]
        if "request_latencies" in query and aligner == monitoring_v3.Aggregation.Aligner.ALIGN_DELTA:
            return [self._series({}, distribution_value={"count": 10, "mean": 1000.0}),
                    self._series({}, distribution_value={"count": 30, "mean": 3000.0})]
        if "memory/utilizations" in query:
            return [self._series({}, double_value=0.5), self._series({}, double_value=0.93)]
        if "startup_latencies" in query:
            return [self._series({}, double_value=12000.0)]
        return [self._series({}, double_value=1800.0), self._series({}, double_value=2400.0)]

    @staticmethod
    def _series(labels, **value):
        return monitoring_v3.TimeSeries(metric={"labels": labels},
                                        points=[monitoring_v3.Point(value=monitoring_v3.TypedValue(**value))])


def test_cloud_monitoring_figures_for_one_revision():
    client = RecordingMonitoring()
    end = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
    stats = CloudMonitoringMetrics(client, "shop").stats("pet-cutout-gpu", "pet-cutout-gpu-c-1a2b",
                                                          end - timedelta(minutes=5), end)
    # A GPU error is a 5xx other than 503; the 503s are counted on their own.
    assert (stats.requests, stats.errors, stats.unavailable, stats.error_rate) == (100, 5, 5, 0.05)
    assert (stats.p95_seconds, stats.mean_seconds, stats.memory_utilization, stats.startup_seconds) == (
        2.4, 2.5, 0.93, 12.0)
    assert all('resource.labels.revision_name = "pet-cutout-gpu-c-1a2b"' in r["filter"] for r in client.requests)
    assert client.requests[0]["aggregation"].alignment_period.seconds == 300
