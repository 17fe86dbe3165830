from datetime import datetime, timedelta, timezone

from google.cloud import monitoring_v3

from adapters.metrics import CloudMonitoringMetrics


class RecordingMonitoring:
    """Answers list_time_series like Cloud Monitoring, and keeps the requests."""

    def __init__(self):
        self.requests = []

    def list_time_series(self, request):
        self.requests.append(request)
        if "request_count" in request["filter"]:
            return [self._series({"response_code_class": "2xx"}, int64_value=95),
                    self._series({"response_code_class": "5xx"}, int64_value=5)]
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
    assert (stats.requests, stats.errors, stats.error_rate, stats.p95_seconds) == (100, 5, 0.05, 2.4)
    assert all('resource.labels.revision_name = "pet-cutout-gpu-c-1a2b"' in r["filter"] for r in client.requests)
    assert client.requests[0]["aggregation"].alignment_period.seconds == 300
