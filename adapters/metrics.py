"""Per-revision request outcomes and latency: what the canary's gates read.

Production: Cloud Monitoring's built-in Cloud Run metrics
(`run.googleapis.com/request_count` by response code class, and
`request_latencies`). Locally: the local Cloud Run router's own counts.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RevisionStats:
    requests: int
    errors: int  # 5xx answers
    p95_seconds: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


class RevisionMetrics(abc.ABC):
    @abc.abstractmethod
    def stats(self, service: str, revision: str, start: datetime, end: datetime) -> RevisionStats: ...


class LocalRouterMetrics(RevisionMetrics):
    def __init__(self, endpoint: str, session=None):
        import requests

        self._endpoint = endpoint.rstrip("/")
        self._session = session or requests.Session()

    def stats(self, service, revision, start, end):
        response = self._session.get(f"{self._endpoint}/_local/stats",
                                     params={"since": start.timestamp(), "until": end.timestamp()}, timeout=10)
        response.raise_for_status()
        row = response.json()["revisions"].get(revision, {})
        return RevisionStats(row.get("requests", 0), row.get("errors", 0), row.get("p95_seconds"))


class CloudMonitoringMetrics(RevisionMetrics):
    def __init__(self, client, project: str):
        self._client = client
        self._project = project

    def _series(self, metric: str, service: str, revision: str, start: datetime, end: datetime, aggregation):
        from google.cloud import monitoring_v3

        interval = monitoring_v3.TimeInterval(start_time=start, end_time=end)
        query = (f'metric.type = "run.googleapis.com/{metric}" AND resource.type = "cloud_run_revision" '
                 f'AND resource.labels.service_name = "{service}" AND resource.labels.revision_name = "{revision}"')
        return self._client.list_time_series(request={
            "name": f"projects/{self._project}", "filter": query, "interval": interval,
            "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL, "aggregation": aggregation})

    def stats(self, service, revision, start, end):
        from google.cloud import monitoring_v3
        from google.protobuf import duration_pb2

        # One bucket over the whole gate (at least a minute, Monitoring's sampling period).
        period = duration_pb2.Duration(seconds=max(60, int((end - start).total_seconds())))
        counts = monitoring_v3.Aggregation(
            alignment_period=period, per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_DELTA,
            cross_series_reducer=monitoring_v3.Aggregation.Reducer.REDUCE_SUM,
            group_by_fields=["metric.labels.response_code_class"])
        requests = errors = 0
        for series in self._series("request_count", service, revision, start, end, counts):
            total = sum(point.value.int64_value for point in series.points)
            requests += total
            if series.metric.labels.get("response_code_class") == "5xx":
                errors += total
        latency = monitoring_v3.Aggregation(
            alignment_period=period, per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_PERCENTILE_95,
            cross_series_reducer=monitoring_v3.Aggregation.Reducer.REDUCE_MAX)
        p95_ms = [point.value.double_value for series in
                  self._series("request_latencies", service, revision, start, end, latency) for point in series.points]
        return RevisionStats(requests, errors, max(p95_ms) / 1000.0 if p95_ms else None)
