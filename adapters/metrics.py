"""Per-revision request outcomes, latency, memory and start-up: what the canary's gates read.

Production: Cloud Monitoring's built-in Cloud Run metrics (`run.googleapis.com/
request_count` by response code, `request_latencies`, `container/memory/utilizations`,
`container/startup_latencies`). Locally: the local Cloud Run's own counts, which
apply the same GPU-error rule (domain/alerts.py).
https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-run
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import datetime

from domain.alerts import is_gpu_error, is_unavailable


@dataclass(frozen=True)
class RevisionStats:
    requests: int
    errors: int  # GPU errors: 5xx other than 503 (domain.alerts.is_gpu_error)
    p95_seconds: float | None
    unavailable: int = 0  # 503 answers
    mean_seconds: float | None = None
    memory_utilization: float | None = None  # highest used / limit seen
    startup_seconds: float | None = None  # slowest instance start

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def signals(self) -> dict[str, float | None]:
        """The values of topology.yaml's per-revision signals."""
        share = (lambda n: n / self.requests) if self.requests else (lambda n: None)
        return {"gpu_error_ratio": share(self.errors), "gpu_unavailable_ratio": share(self.unavailable),
                "gpu_failure_ratio": share(self.errors + self.unavailable), "gpu_mean_seconds": self.mean_seconds,
                "gpu_p95_seconds": self.p95_seconds, "gpu_memory_utilization": self.memory_utilization,
                "gpu_startup_seconds": self.startup_seconds}


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
        return RevisionStats(row.get("requests", 0), row.get("errors", 0), row.get("p95_seconds"),
                             row.get("unavailable", 0), row.get("mean_seconds"), row.get("memory_utilization"),
                             row.get("startup_seconds"))


def run_series(client, project: str, metric: str, service: str, start: datetime, end: datetime, aggregation,
               revision: str | None = None):
    """One built-in Cloud Run metric's time series for a service: one revision's, or (None) all revisions'."""
    from google.cloud import monitoring_v3

    interval = monitoring_v3.TimeInterval(start_time=start, end_time=end)
    query = (f'metric.type = "run.googleapis.com/{metric}" AND resource.type = "cloud_run_revision" '
             f'AND resource.labels.service_name = "{service}"')
    if revision is not None:
        query += f' AND resource.labels.revision_name = "{revision}"'
    return client.list_time_series(request={
        "name": f"projects/{project}", "filter": query, "interval": interval,
        "view": monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL, "aggregation": aggregation})


class CloudMonitoringMetrics(RevisionMetrics):
    def __init__(self, client, project: str):
        self._client = client
        self._project = project

    def _series(self, metric: str, service: str, revision: str, start: datetime, end: datetime, aggregation):
        return run_series(self._client, self._project, metric, service, start, end, aggregation, revision)

    def stats(self, service, revision, start, end):
        from google.cloud import monitoring_v3
        from google.protobuf import duration_pb2

        aligner, reducer = monitoring_v3.Aggregation.Aligner, monitoring_v3.Aggregation.Reducer
        # One bucket over the whole gate (at least a minute, Monitoring's sampling period).
        period = duration_pb2.Duration(seconds=max(60, int((end - start).total_seconds())))
        counts = monitoring_v3.Aggregation(alignment_period=period, per_series_aligner=aligner.ALIGN_DELTA,
                                           cross_series_reducer=reducer.REDUCE_SUM,
                                           group_by_fields=["metric.labels.response_code"])
        requests = errors = unavailable = 0
        for series in self._series("request_count", service, revision, start, end, counts):
            total = sum(point.value.int64_value for point in series.points)
            code = int(series.metric.labels.get("response_code", "0") or 0)
            requests += total
            errors += total if is_gpu_error(code) else 0
            unavailable += total if is_unavailable(code) else 0

        def highest(metric: str, percentile) -> float | None:
            aggregation = monitoring_v3.Aggregation(alignment_period=period, per_series_aligner=percentile,
                                                    cross_series_reducer=reducer.REDUCE_MAX)
            values = [point.value.double_value for series in
                      self._series(metric, service, revision, start, end, aggregation) for point in series.points]
            return max(values) if values else None

        p95_ms = highest("request_latencies", aligner.ALIGN_PERCENTILE_95)
        # The mean of a distribution: its delta over the gate carries count and mean.
        deltas = monitoring_v3.Aggregation(alignment_period=period, per_series_aligner=aligner.ALIGN_DELTA)
        points = [point.value.distribution_value for series in
                  self._series("request_latencies", service, revision, start, end, deltas) for point in series.points]
        count = sum(p.count for p in points)
        mean_ms = sum(p.mean * p.count for p in points) / count if count else None
        memory = highest("container/memory/utilizations", aligner.ALIGN_PERCENTILE_99)
        startup_ms = highest("container/startup_latencies", aligner.ALIGN_PERCENTILE_99)
        seconds = lambda ms: None if ms is None else ms / 1000.0  # noqa: E731
        return RevisionStats(requests, errors, seconds(p95_ms), unavailable, seconds(mean_ms), memory,
                             seconds(startup_ms))
