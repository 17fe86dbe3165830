"""A local Cloud Monitoring alert policy for the rollback drill.

Production policy (declared in topology.yaml under `alerts`): per Cloud Run
revision, the ratio of 5xx responses to all responses above 5 % for 5 minutes,
notifying the rollback webhook. Here the same condition is evaluated on the
local Cloud Run router's per-revision counts, over a window that tests compress
to seconds, and the same payload (version 1.2) is POSTed to the same webhook:
`open` when the condition starts to hold for a revision, `closed` when it stops.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field

import requests


@dataclass
class Condition:
    policy_name: str = "gpu-error-rate"
    condition_name: str = "5xx ratio above 5% for 5 min"
    max_error_rate: float = 0.05
    window_seconds: float = 300.0
    min_requests: int = 1

    @classmethod
    def from_topology(cls, topology: dict, name: str, **overrides) -> "Condition":
        """The declared policy; tests override the window to seconds."""
        policy = topology["alerts"][name]
        declared = dict(policy_name=name, condition_name=policy["condition"], max_error_rate=policy["max_error_rate"],
                        window_seconds=policy["duration_seconds"])
        return cls(**{**declared, **overrides})


@dataclass
class Incident:
    incident_id: str
    revision: str
    started_at: float
    observed: float
    state: str = "open"
    deliveries: list[int] = field(default_factory=list)  # webhook HTTP status per delivery


def payload(incident: Incident, condition: Condition, *, project: str, region: str, service: str,
            ended_at: float | None = None) -> dict:
    """The incident as Cloud Monitoring's webhook sends it (payload version 1.2)."""
    return {"version": "1.2", "incident": {
        "incident_id": incident.incident_id,
        "scoping_project_id": project,
        "scoping_project_number": 0,
        "url": f"https://console.cloud.google.com/monitoring/alerting/incidents/{incident.incident_id}",
        "started_at": int(incident.started_at),
        "ended_at": int(ended_at) if ended_at else None,
        "state": incident.state,
        "summary": f"5xx ratio for {incident.revision} is {incident.observed:.3f}, above {condition.max_error_rate}.",
        "apigee_url": "",
        "observed_value": f"{incident.observed:.3f}",
        "resource": {"type": "cloud_run_revision", "labels": {
            "project_id": project, "service_name": service, "revision_name": incident.revision,
            "location": region, "configuration_name": service}},
        "resource_type_display_name": "Cloud Run Revision",
        "resource_id": "",
        "resource_display_name": incident.revision,
        "resource_name": f"{project} Cloud Run Revision labels {{revision_name={incident.revision}}}",
        "metric": {"type": "run.googleapis.com/request_count", "displayName": "Request Count",
                   "labels": {"response_code_class": "5xx"}},
        "metadata": {"system_labels": {}, "user_labels": {}},
        "policy_name": condition.policy_name,
        "policy_user_labels": {},
        "documentation": {"content": "Automatic rollback to the known-good revision.", "mime_type": "text/markdown"},
        "condition": {"name": f"projects/{project}/alertPolicies/local/conditions/1",
                      "displayName": condition.condition_name},
        "condition_name": condition.condition_name,
        "threshold_value": str(condition.max_error_rate),
    }}


class AlertPolicy:
    """Evaluates the condition every `period` seconds (in a thread) or on `evaluate()`."""

    def __init__(self, stats_url: str, webhook_url: str, condition: Condition, *, project: str, region: str,
                 service: str, period: float = 0.5, auth: tuple[str, str] | None = None):
        self.stats_url = stats_url
        self.webhook_url = webhook_url
        self.condition = condition
        self.where = dict(project=project, region=region, service=service)
        self.period = period
        self.auth = auth
        self.open: dict[str, Incident] = {}
        self.history: list[Incident] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def evaluate(self) -> list[Incident]:
        """One evaluation; returns the incidents it opened or closed."""
        rows = requests.get(self.stats_url, params={"seconds": self.condition.window_seconds}, timeout=10).json()
        changed = []
        for revision, row in rows["revisions"].items():
            condition = self.condition
            firing = row["requests"] >= condition.min_requests and row["error_rate"] > condition.max_error_rate
            if firing and revision not in self.open:
                incident = Incident(f"0.{uuid.uuid4().hex[:12]}", revision, time.time(), row["error_rate"])
                self.open[revision] = incident
                self.history.append(incident)
                self.deliver(incident)
                changed.append(incident)
        for revision in list(self.open):
            row = rows["revisions"].get(revision)
            if row is None or row["error_rate"] <= self.condition.max_error_rate:
                incident = self.open.pop(revision)
                incident.state = "closed"
                self.deliver(incident, ended_at=time.time())
                changed.append(incident)
        return changed

    def deliver(self, incident: Incident, ended_at: float | None = None) -> int:
        body = payload(incident, self.condition, ended_at=ended_at, **self.where)
        response = requests.post(self.webhook_url, json=body, auth=self.auth, timeout=120)
        incident.deliveries.append(response.status_code)
        return response.status_code

    def start(self) -> "AlertPolicy":
        self._thread = threading.Thread(target=self._run, name="alert-policy", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.evaluate()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)
