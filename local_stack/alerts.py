"""The local stack's Cloud Monitoring: topology.yaml's alert conditions on the local Cloud Run.

Every declared condition whose signal has a local reading (topology.yaml `signals:`
`local`) is evaluated per revision every `period` seconds:

- `router` signals come from the local Cloud Run's per-revision counts
  (`/_local/stats`), which apply the same GPU-error rule (domain/alerts.py); a ratio
  or mean is taken over the condition's duration, so it fires as soon as it held
  that long on average, as a PromQL rate over the duration would;
- `prometheus: NAME` signals are read from each revision's /metrics, the names the
  Managed Service for Prometheus sidecar exports in production; they must hold at
  every evaluation for the duration;
- start-up seconds count only for a revision that serves traffic (one no shopper
  reaches has no cold start anyone waits for).

Durations are multiplied by ALERT_TIME_SCALE (settings.py), thresholds never. An
incident opens when a condition starts to hold for a revision and closes when it
stops; each change is POSTed in Cloud Monitoring's webhook payload (version 1.2)
to the rollback webhook for `rollback: true` conditions, and to the channel URLs
given for its severity route.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import requests
from prometheus_client.parser import text_string_to_metric_families

from domain.alerts import Condition, conditions

logger = logging.getLogger(__name__)


@dataclass
class Incident:
    incident_id: str
    revision: str
    started_at: float
    observed: float
    policy: str = "gpu-error-rate"
    summary: str = ""
    state: str = "open"
    deliveries: list[int] = field(default_factory=list)  # webhook HTTP status per delivery


def payload(incident: Incident, *, project: str, region: str, service: str, ended_at: float | None = None,
            threshold: float | None = None, metric: str = "") -> dict:
    """The incident as Cloud Monitoring's webhook sends it (payload version 1.2).
    https://cloud.google.com/monitoring/support/notification-options#webhooks"""
    return {"version": "1.2", "incident": {
        "incident_id": incident.incident_id,
        "scoping_project_id": project,
        "scoping_project_number": 0,
        "url": f"https://console.cloud.google.com/monitoring/alerting/incidents/{incident.incident_id}",
        "started_at": int(incident.started_at),
        "ended_at": int(ended_at) if ended_at else None,
        "state": incident.state,
        "summary": incident.summary or f"{incident.policy} for {incident.revision}: {incident.observed:.3f}",
        "apigee_url": "",
        "observed_value": f"{incident.observed:.3f}",
        "resource": {"type": "cloud_run_revision", "labels": {
            "project_id": project, "service_name": service, "revision_name": incident.revision,
            "location": region, "configuration_name": service}},
        "resource_type_display_name": "Cloud Run Revision",
        "resource_id": "",
        "resource_display_name": incident.revision,
        "resource_name": f"{project} Cloud Run Revision labels {{revision_name={incident.revision}}}",
        "metric": {"type": metric, "displayName": metric, "labels": {}},
        "metadata": {"system_labels": {}, "user_labels": {}},
        "policy_name": incident.policy,
        "policy_user_labels": {},
        "documentation": {"content": "See docs/deploy.md#alerts.", "mime_type": "text/markdown"},
        "condition": {"name": f"projects/{project}/alertPolicies/local/conditions/1",
                      "displayName": incident.policy},
        "condition_name": incident.policy,
        "threshold_value": "" if threshold is None else str(threshold),
    }}


def local_conditions(topology: Mapping, names: list[str] | None = None) -> list[Condition]:
    """The declared conditions whose every signal has a local reading (all of `names` if given)."""
    signals = topology["signals"]
    declared = conditions(topology)
    chosen = [declared[n] for n in names] if names else list(declared.values())
    return [c for c in chosen if all("local" in signals[s] for s in c.signals)]


def prometheus_values(text: str) -> dict[str, float]:
    """Unlabelled gauges of a Prometheus exposition (the signals read them by name)."""
    return {sample.name: sample.value for family in text_string_to_metric_families(text)
            for sample in family.samples if not sample.labels}


class Evaluator:
    """Evaluates the conditions every `period` seconds (in a thread) or on `evaluate()`."""

    def __init__(self, cloud_run_url: str, webhook_url: str, topology: Mapping, names: list[str] | None = None, *,
                 project: str, region: str, service: str, scale: float = 1.0, min_window: float = 2.0,
                 min_requests: int = 1, period: float = 0.5, auth: tuple[str, str] | None = None,
                 routes: Mapping[str, str] | None = None):
        self.stats_url = cloud_run_url.rstrip("/") + "/_local/stats"
        self.webhook_url = webhook_url
        self.signals = topology["signals"]
        self.conditions = local_conditions(topology, names)
        self.where = dict(project=project, region=region, service=service)
        self.scale, self.min_window, self.min_requests = scale, min_window, min_requests
        self.period, self.auth, self.routes = period, auth, dict(routes or {})
        self.open: dict[tuple[str, str], Incident] = {}
        self.history: list[Incident] = []
        self._since: dict[tuple[str, str], float] = {}  # when a sampled signal began to hold
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def seconds(self, condition: Condition) -> float:
        return condition.for_seconds * self.scale

    def _rows(self, window: float) -> dict:
        return requests.get(self.stats_url, params={"seconds": window}, timeout=10).json()["revisions"]

    def _values(self, row: dict, gauges: dict[str, float]) -> dict[str, float | None]:
        enough = row["requests"] >= self.min_requests
        share = (lambda n: n / row["requests"]) if enough and row["requests"] else (lambda n: None)
        serving = row.get("percent", 0) > 0
        values = {"gpu_error_ratio": share(row["errors"]), "gpu_unavailable_ratio": share(row["unavailable"]),
                  "gpu_failure_ratio": share(row["errors"] + row["unavailable"]),
                  "gpu_mean_seconds": row["mean_seconds"] if enough else None,
                  "gpu_p95_seconds": row["p95_seconds"] if enough else None,
                  "gpu_memory_utilization": row["memory_utilization"],
                  "gpu_startup_seconds": row["startup_seconds"] if serving else None}
        for signal, spec in self.signals.items():
            if isinstance(spec.get("local"), dict) and "prometheus" in spec["local"]:
                values[signal] = gauges.get(spec["local"]["prometheus"])
        return values

    def _gauges(self, row: dict) -> dict[str, float]:
        if not row.get("url"):
            return {}
        try:
            return prometheus_values(requests.get(row["url"] + "/metrics", timeout=5).text)
        except requests.RequestException:  # the instance is gone: no sample, as the sidecar would send
            return {}

    def evaluate(self) -> list[Incident]:
        """One evaluation; returns the incidents it opened or closed."""
        now, changed, windows = time.time(), [], {}
        gauges: dict[str, dict[str, float]] = {}
        for condition in self.conditions:
            window = max(self.seconds(condition), self.min_window)
            rows = windows.get(window) or windows.setdefault(window, self._rows(window))
            for revision, row in rows.items():
                if revision not in gauges:
                    gauges[revision] = self._gauges(row) if row.get("percent", 0) > 0 else {}
                values = self._values(row, gauges[revision])
                key = (condition.name, revision)
                breached = condition.breached(values)
                if not breached:
                    self._since.pop(key, None)
                holding = breached and self._held(condition, key, now)
                if holding and key not in self.open:
                    changed.append(self._open(condition, revision, values, now))
                elif not holding and key in self.open:
                    changed.append(self._close(key, now))
        return changed

    def _held(self, condition: Condition, key: tuple[str, str], now: float) -> bool:
        """Router signals are averaged over the duration already; sampled ones must keep holding."""
        if all(self.signals[s]["local"] == "router" and s != "gpu_startup_seconds" for s in condition.signals):
            return True
        since = self._since.setdefault(key, now)
        return now - since >= self.seconds(condition)

    def _open(self, condition: Condition, revision: str, values: dict, now: float) -> Incident:
        first = condition.clauses[0]
        incident = Incident(f"0.{uuid.uuid4().hex[:12]}", revision, now, values[first.signal] or 0.0,
                            policy=condition.name, summary=condition.why(values))
        self.open[(condition.name, revision)] = incident
        self.history.append(incident)
        self.deliver(incident)
        return incident

    def _close(self, key: tuple[str, str], now: float) -> Incident:
        self._since.pop(key, None)
        incident = self.open.pop(key)
        incident.state = "closed"
        self.deliver(incident, ended_at=now)
        return incident

    def condition(self, name: str) -> Condition:
        return next(c for c in self.conditions if c.name == name)

    def deliver(self, incident: Incident, ended_at: float | None = None) -> int | None:
        """To the rollback webhook (rollback conditions) and the severity route's channels."""
        condition = self.condition(incident.policy)
        first = condition.clauses[0]
        body = payload(incident, ended_at=ended_at, threshold=first.above, metric=self.signals[first.signal]["metric"],
                       **self.where)
        for channel in condition.routes:
            if url := self.routes.get(channel):
                requests.post(url, json={"text": body["incident"]["summary"], "incident": body["incident"]},
                              timeout=30)
        if not condition.rollback:
            return None
        response = requests.post(self.webhook_url, json=body, auth=self.auth, timeout=120)
        incident.deliveries.append(response.status_code)
        return response.status_code

    def start(self) -> Evaluator:
        self._thread = threading.Thread(target=self._run, name="alert-evaluator", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            try:
                self.evaluate()
            except Exception as exc:  # noqa: BLE001 - keep evaluating; tests read `errors`
                self.errors.append(repr(exc))
                logger.exception("alert evaluation failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)
