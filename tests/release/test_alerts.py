"""topology.yaml `alerts:`: every condition of the store's plan, declared once, read by
Terraform, the canary's gates and the local evaluator alike."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import topology
from adapters.metrics import RevisionStats
from deploy import canary
from domain import alerts
from local_stack.alerts import local_conditions, prometheus_values
from settings import Settings
from tests.release.test_infra import INFRA, needs_terraform, topology_output

# The alert and rollback lists of the store's plan (shared/STORE_PLAN.md), word for word.
PLAN = {
    "rollback": ["error rate > 5 % for 5 minutes", "average processing time > 15 s",
                 "memory pressure causing 503s", "cold starts > 45 s"],
    "critical": ["service down > 2 min", "error rate > 10 % for 5 min", "processing time > 30 s sustained",
                 "memory > 90 % for 3 min", "cost spike > 150 % of the daily average"],
    "warning": ["cold starts > 10 an hour in business hours", "processing queue > 50", "storage errors > 5 an hour",
                "unusual traffic"],
}
# What each plan item means in numbers: (signal, threshold, seconds).
NUMBERS = {
    "error rate > 5 % for 5 minutes": ("gpu_error_ratio", 0.05, 300),
    "average processing time > 15 s": ("gpu_mean_seconds", 15, None),
    "cold starts > 45 s": ("gpu_startup_seconds", 45, None),
    "service down > 2 min": (None, None, 120),
    "error rate > 10 % for 5 min": ("gpu_error_ratio", 0.10, 300),
    "processing time > 30 s sustained": ("gpu_mean_seconds", 30, None),
    "memory > 90 % for 3 min": (None, None, 180),
    "cost spike > 150 % of the daily average": ("cost_rate_ratio", 1.5, None),
    "cold starts > 10 an hour in business hours": ("gpu_cold_starts_per_hour", 10, None),
    "processing queue > 50": ("gpu_queue_depth", 50, None),
    "storage errors > 5 an hour": ("storage_errors_per_hour", 5, None),
}


@pytest.fixture(scope="module")
def declared():
    return topology.load(env={})


def _plan_key(entry: dict) -> tuple[str, str]:
    kind, _, text = entry["plan"].partition(": ")
    return kind, text


def test_every_condition_of_the_plan_is_declared_once_with_its_numbers(declared):
    entries = declared["alerts"]
    for kind, items in PLAN.items():
        for item in items:
            matches = [n for n, e in entries.items() if _plan_key(e) == (kind, item)]
            assert len(matches) == 1, (kind, item, matches)
            entry = entries[matches[0]]
            signal, above, seconds = NUMBERS.get(item, (None, None, None))
            assert signal is None or entry["signal"] == signal, item
            assert above is None or entry["above"] == above, item
            assert seconds is None or entry["for_seconds"] == seconds, item
            assert (entry.get("rollback", False), entry["severity"]) == (
                (True, "warning") if kind == "rollback" else (False, kind)), item
    memory_503 = entries[next(n for n, e in entries.items() if _plan_key(e)[1] == "memory pressure causing 503s")]
    assert (memory_503["signal"], memory_503["while"]["signal"]) == ("gpu_unavailable_ratio", "gpu_memory_utilization")


def test_routes_and_the_rollback_function_follow_the_declaration(declared):
    found = alerts.conditions(declared)
    assert {c.routes for c in found.values() if c.severity == "critical"} == {("pager", "slack")}
    assert {c.routes for c in found.values() if c.severity == "warning"} == {("slack", "email")}
    assert Settings().rollback_policy_names == alerts.rollback_names(found) == {
        "gpu-error-rate", "gpu-processing-time", "gpu-memory-503", "gpu-slow-cold-start"}


def test_a_gpu_error_is_a_5xx_other_than_503():
    assert [s for s in (200, 204, 429, 500, 502, 503, 504) if alerts.is_gpu_error(s)] == [500, 502, 504]
    assert [s for s in (200, 429, 500, 503) if alerts.is_unavailable(s)] == [503]


def test_a_signal_that_is_not_declared_is_refused(declared):
    broken = json.loads(json.dumps(declared))
    broken["alerts"]["gpu-error-rate"]["signal"] = "gpu_typo"
    with pytest.raises(ValueError, match="gpu_typo"):
        alerts.conditions(broken)


def test_the_local_evaluator_reads_the_metric_names_the_sidecar_exports(declared):
    from prometheus_client import generate_latest

    import gpu_service.metrics  # noqa: F401 - registers the service's metrics

    exported = prometheus_values(generate_latest().decode())
    for name, spec in declared["signals"].items():
        local = spec.get("local")
        assert (local is None) == ("production_only" in spec), name
        if isinstance(local, dict):
            metric = local["prometheus"]
            assert metric in exported, metric  # the service serves it on /metrics
            assert spec["metric"] == f"prometheus.googleapis.com/{metric}/gauge"  # the sidecar's name for a gauge
    # Conditions whose signals have no local reading are the production-only ones, named.
    local = {c.name for c in local_conditions(declared)}
    production_only = set(declared["alerts"]) - local
    assert production_only == {"cost-spike", "storage-errors", "unusual-traffic", "dead-letters"}


def _render_terraform(topology_file: Path) -> dict:
    return topology_output("tf-alerts", "alert_policies", env={}, file=str(topology_file))


def test_terraform_makes_one_policy_per_declared_condition_routed_by_severity():
    text = (INFRA / "monitoring.tf").read_text()
    policies = re.findall(r'^resource "google_monitoring_alert_policy" "([\w-]+)" \{\n(.*?)^\}', text, re.S | re.M)
    assert [name for name, _ in policies] == ["declared"]
    body = policies[0][1]
    assert "for_each     = local.alert_policies" in body and "local.route_channels[each.value.severity]" in body
    assert "each.value.rollback ? google_monitoring_notification_channel.rollback[*].id" in body
    assert "alert_policies = module.topology.alert_policies" in text


@needs_terraform
def test_one_threshold_changed_in_the_declaration_changes_terraform_the_canary_and_the_local_evaluator(tmp_path):
    original = topology.TOPOLOGY_FILE.read_text()
    changed_text = original.replace("    signal: gpu_error_ratio\n    above: 0.05\n",
                                    "    signal: gpu_error_ratio\n    above: 0.2\n", 1)
    assert changed_text != original
    changed = tmp_path / "topology.yaml"
    changed.write_text(changed_text)
    readers = {}
    for label, path in (("original", topology.TOPOLOGY_FILE), ("changed", changed)):
        loaded = topology.load(path, env={})
        rendered = _render_terraform(path)
        gate = next(g for g in canary.declared_gates(loaded) if g.name == "gpu-error-rate")
        evaluated = next(c for c in local_conditions(loaded) if c.name == "gpu-error-rate")
        readers[label] = (rendered["gpu-error-rate"], gate, evaluated)
    for label, threshold in (("original", 0.05), ("changed", 0.2)):
        policy, gate, evaluated = readers[label]
        assert policy["threshold"] == gate.clauses[0].above == evaluated.clauses[0].above == threshold
        assert policy["query"].endswith(f") > {threshold:g}") and policy["duration"] == "300s"
    # And it acts: 10 % of GPU errors fails the gate at 5 %, passes it at 20 %.
    stats = RevisionStats(100, 10, 1.0)
    assert "gpu-error-rate" in canary.judge(stats, canary.Options("s", "i", "t", gates=[readers["original"][1]]))
    assert canary.judge(stats, canary.Options("s", "i", "t", gates=[readers["changed"][1]])) is None
    # Every declared condition became a policy, with its duration and severity.
    policies = readers["original"][0]
    rendered_all = _render_terraform(topology.TOPOLOGY_FILE)
    declared = topology.load(env={})["alerts"]
    assert set(rendered_all) == set(declared)
    for name, entry in declared.items():
        assert rendered_all[name]["duration"] == f"{entry['for_seconds']}s"
        assert rendered_all[name]["severity"] == entry["severity"]
        assert rendered_all[name]["rollback"] == entry.get("rollback", False)
    assert policies["severity"] == "warning"
