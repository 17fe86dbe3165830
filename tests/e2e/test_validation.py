"""The release gate (python -m validation) against the local stack: it passes against the
session's healthy stack, and it fails against a broken GPU service, one answering 500 and
one slower than the warm limit (the stack's GPU process swapped for the broken one, then
put back). The gate's photos are all new, so the mask cache cannot answer for a broken
GPU service (the 500 case passed its warm check on cache hits before they were)."""

import contextlib
import json

import pytest

from processes import Child
from validation.__main__ import main
from validation.local import env_for
from validation.targets import thresholds

pytestmark = pytest.mark.e2e


def gate(monkeypatch, stack, tmp_path, *only: str, gpu_app: str = "gpu_service.app:app") -> tuple[int, dict]:
    for key, value in env_for(stack, gpu_app).items():
        monkeypatch.setenv(key, value)
    report = tmp_path / "report.json"
    code = main(["--target", "local", "--report", str(report), *(["--only", ",".join(only)] if only else [])])
    return code, json.loads(report.read_text())


def verdicts(report: dict) -> dict[str, bool]:
    return {c["check"]: c["passed"] for c in report["checks"]}


@contextlib.contextmanager
def gpu_swapped(stack, app: str, **env: str):
    """The stack's GPU service replaced by `app` on the same port; the real one back after."""
    original = stack.children["gpu"]
    original.stop()
    argv = [app if arg == stack.gpu_app else arg for arg in original.argv]
    broken = Child("gpu", argv, {**original.env, **env}, original.log_path.with_name("gpu-broken.log"),
                   ready_url=original.ready_url)
    stack.children["gpu"] = broken
    try:
        assert not original.alive()
        broken.start()
        broken.wait_ready(120)
        yield
    finally:
        broken.stop()
        stack.children["gpu"] = original
        original.start()
        original.wait_ready(120)


def test_the_gate_passes_against_the_local_stack_and_says_what_it_scaled(monkeypatch, stack, tmp_path, capsys):
    code, report = gate(monkeypatch, stack, tmp_path)
    assert verdicts(report) == dict.fromkeys(["cold_start", "health", "warm_p95", "burst", "high_res", "memory",
                                              "results_signed_get", "cors", "bad_upload"], True), report["checks"]
    assert code == 0 and report["passed"]
    assert set(report["scaled"]) >= {"warm_p95_seconds", "memory_bytes", "burst_uploads"}
    printed = capsys.readouterr().out
    assert "scaled for this machine" in printed and "GATE OPEN" in printed
    burst = next(c for c in report["checks"] if c["check"] == "burst")
    assert burst["figures"]["codes"] == {"201": 100}  # 100 concurrent shoppers, each granted


@pytest.mark.slow
def test_the_gate_fails_against_a_gpu_service_answering_500(monkeypatch, stack, tmp_path):
    with gpu_swapped(stack, "tests.e2e.failing_gpu_app:app"):
        code, report = gate(monkeypatch, stack, tmp_path, "health", "warm_p95")
    assert code == 1 and not report["passed"]
    assert verdicts(report) == {"health": False, "warm_p95": False}


@pytest.mark.slow
def test_the_gate_fails_against_a_gpu_service_slower_than_the_warm_limit(monkeypatch, stack, tmp_path):
    slower = thresholds("local")["warm_p95_seconds"].value + 1
    with gpu_swapped(stack, "tests.e2e.slow_gpu_app:app", SLOW_FORWARD_SECONDS=str(slower)):
        code, report = gate(monkeypatch, stack, tmp_path, "warm_p95")
    assert code == 1
    warm = report["checks"][0]
    assert not warm["passed"] and warm["measured"] > warm["limit"], warm
