"""The local evaluator judges the declared conditions on per-revision readings."""

from __future__ import annotations

import time

import pytest

import topology
from local_stack.alerts import Evaluator
from tests.integration.webhook_recorder import Recorder

REV = "pet-cutout-gpu-00002-bad"


def row(requests=10, errors=0, unavailable=0, mean=1.0, p95=1.0, memory=None, startup=5.0, percent=10):
    return {"requests": requests, "errors": errors, "unavailable": unavailable, "mean_seconds": mean,
            "p95_seconds": p95, "memory_utilization": memory, "startup_seconds": startup, "percent": percent,
            "url": "http://rev"}


class Scripted(Evaluator):
    """Readings given by the test instead of the local Cloud Run."""

    def __init__(self, webhook: str, **kwargs):
        super().__init__("http://unused", webhook, topology.load(env={}), project="p", region="r",
                         service="pet-cutout-gpu", **kwargs)
        self.rows, self.gauges, self.windows = {}, {}, []

    def _rows(self, window):
        self.windows.append(window)
        return self.rows

    def _gauges(self, row):
        return self.gauges


@pytest.fixture
def webhook():
    recorder = Recorder()
    yield recorder
    recorder.close()


def opened(evaluator):
    return sorted(i.policy for i in evaluator.history if i.state == "open")


def test_an_error_rate_over_its_scaled_window_opens_one_incident_then_closes(webhook):
    evaluator = Scripted(webhook.url, scale=0.02)
    evaluator.rows = {REV: row(errors=1)}
    evaluator.evaluate()
    evaluator.evaluate()
    assert opened(evaluator) == ["gpu-error-rate"]  # 10 %: above 5 %, not above the critical 10 %
    assert 300 * 0.02 in evaluator.windows
    [sent] = webhook.posts
    assert (sent["incident"]["policy_name"], sent["incident"]["state"]) == ("gpu-error-rate", "open")
    assert sent["incident"]["resource"]["labels"]["revision_name"] == REV
    evaluator.rows = {REV: row(errors=0)}
    evaluator.evaluate()
    assert [p["incident"]["state"] for p in webhook.posts] == ["open", "closed"]


def test_503s_roll_back_only_under_memory_pressure(webhook):
    evaluator = Scripted(webhook.url)
    evaluator.rows = {REV: row(unavailable=10, memory=0.5)}  # busy: back-pressure, not an error
    evaluator.evaluate()
    assert opened(evaluator) == ["gpu-down"]  # every request 5xx: critical, but not a rollback
    assert webhook.posts == []  # only rollback conditions call the rollback webhook
    evaluator.rows = {REV: row(unavailable=10, memory=0.98)}
    evaluator.evaluate()
    assert "gpu-memory-503" in opened(evaluator)
    assert [p["incident"]["policy_name"] for p in webhook.posts] == ["gpu-memory-503"]


def test_a_slow_start_counts_once_the_revision_serves(webhook):
    evaluator = Scripted(webhook.url)
    evaluator.rows = {REV: row(requests=0, startup=50.0, percent=0)}
    evaluator.evaluate()
    assert opened(evaluator) == []
    evaluator.rows = {REV: row(requests=0, startup=50.0, percent=10)}
    evaluator.evaluate()
    assert opened(evaluator) == ["gpu-slow-cold-start"]


def test_a_prometheus_gauge_must_hold_for_its_scaled_duration(webhook):
    evaluator = Scripted(webhook.url, scale=0.01)  # queue-depth: 60 s -> 0.6 s
    evaluator.rows = {REV: row()}
    evaluator.gauges = {"segment_queue_depth": 51.0}
    evaluator.evaluate()
    assert opened(evaluator) == []
    time.sleep(0.7)
    evaluator.evaluate()
    assert opened(evaluator) == ["queue-depth"]


def test_slow_processing_and_a_good_revision(webhook):
    evaluator = Scripted(webhook.url)
    evaluator.rows = {REV: row(mean=16.0, p95=16.0), "pet-cutout-gpu-00001-good": row(percent=90)}
    evaluator.evaluate()
    assert {i.revision for i in evaluator.history} == {REV}
    assert opened(evaluator) == ["gpu-p95-latency", "gpu-processing-time"]
