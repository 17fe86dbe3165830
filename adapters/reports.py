"""What the KPI report reads: jobs and recorded spend (Firestore), request counts
(Cloud Monitoring in production, the local Cloud Run router locally). Fetch only:
the rules live in domain/kpi.py."""

from __future__ import annotations

import abc
from datetime import datetime, timedelta

from adapters.jobs import from_doc
from adapters.metrics import run_series
from domain.jobs import Job
from domain.kpi import RequestBucket, SpendSample

HOUR = timedelta(hours=1)


class ReportSource(abc.ABC):
    @abc.abstractmethod
    def jobs_queued(self, start: datetime, end: datetime) -> list[Job]:
        """Jobs that intake queued in [start, end)."""

    @abc.abstractmethod
    def spend_samples(self, start: datetime, end: datetime) -> list[SpendSample]:
        """The budget guard's spend figures seen in [start, end)."""


class FirestoreReportSource(ReportSource):
    """`client` is the jobs' database; `ops_client` the operations database, where the
    budget guard logs spend (adapters/ops_store.py); the same client when there is one database."""

    def __init__(self, client, *, ops_client=None, jobs_collection: str = "jobs",
                 spend_log_collection: str = "ops_spend_log"):
        self._jobs = client.collection(jobs_collection)
        self._spend_log = (ops_client or client).collection(spend_log_collection)

    def _between(self, collection, field: str, start: datetime, end: datetime):
        from google.cloud.firestore_v1.base_query import FieldFilter

        query = collection.where(filter=FieldFilter(field, ">=", start)).where(filter=FieldFilter(field, "<", end))
        return (snap.to_dict() for snap in query.stream())

    def jobs_queued(self, start, end):
        return [from_doc(doc) for doc in self._between(self._jobs, "timestamps.queued", start, end)]

    def spend_samples(self, start, end):
        return [SpendSample(at=d["at"], budget_id=d["budget_id"], interval_start=d["interval_start"],
                            cost=float(d["cost"]))
                for d in self._between(self._spend_log, "at", start, end) if d.get("cost") is not None]


class RequestCounts(abc.ABC):
    @abc.abstractmethod
    def hourly(self, service: str, start: datetime, end: datetime) -> list[RequestBucket]:
        """The service's requests and 5xx answers per hour in [start, end) (whole hours)."""


class CloudMonitoringRequests(RequestCounts):
    """Cloud Run's built-in `run.googleapis.com/request_count`, all revisions, by response code class:
    https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-run"""

    def __init__(self, client, project: str):
        self._client = client
        self._project = project

    def hourly(self, service, start, end):
        from google.cloud import monitoring_v3
        from google.protobuf import duration_pb2

        aggregation = monitoring_v3.Aggregation(
            alignment_period=duration_pb2.Duration(seconds=3600),
            per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_DELTA,
            cross_series_reducer=monitoring_v3.Aggregation.Reducer.REDUCE_SUM,
            group_by_fields=["metric.labels.response_code_class"])
        series = run_series(self._client, self._project, "request_count", service, start, end, aggregation)
        counts: dict[datetime, list[int]] = {}
        for one in series:
            is_error = one.metric.labels.get("response_code_class") == "5xx"
            for point in one.points:
                # A DELTA point covers the alignment period that ends at its end time.
                bucket = counts.setdefault(point.interval.end_time - HOUR, [0, 0])
                bucket[0] += point.value.int64_value
                bucket[1] += point.value.int64_value if is_error else 0
        return [RequestBucket(at, n, e) for at, (n, e) in sorted(counts.items())]


class LocalRouterRequests(RequestCounts):
    """The local Cloud Run router's own counts (`GET /_local/stats`), hour by hour."""

    def __init__(self, endpoint: str, session=None):
        import requests

        self._endpoint = endpoint.rstrip("/")
        self._session = session or requests.Session()

    def hourly(self, service, start, end):
        out = []
        at = start
        while at < end:
            response = self._session.get(f"{self._endpoint}/_local/stats",
                                         params={"since": at.timestamp(), "until": (at + HOUR).timestamp()},
                                         timeout=10)
            response.raise_for_status()
            rows = response.json()["revisions"].values()
            requests_, errors = sum(r.get("requests", 0) for r in rows), sum(r.get("errors", 0) for r in rows)
            if requests_:
                out.append(RequestBucket(at, requests_, errors))
            at += HOUR
        return out
