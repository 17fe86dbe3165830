"""The release gate's thresholds and report, without a stack: remote targets use the plan's
numbers as written; local changes only what it declares, and its report says so; a failed
check closes the gate (exit 1)."""

import json

from validation import checks
from validation.__main__ import main
from validation.report import Verdict, table, write_json
from validation.targets import GIB, LOCAL_SCALE, PLAN, min_allowed_in_burst, thresholds


def test_staging_and_production_use_the_plans_numbers():
    for target in ("staging", "production"):
        limits = thresholds(target)
        assert {name: t.value for name, t in limits.items()} == {name: plan for name, (plan, *_) in PLAN.items()}
        assert not any(t.why_scaled for t in limits.values())
    assert PLAN["cold_start_seconds"][0] == 35 and PLAN["warm_p95_seconds"][0] == 5
    assert PLAN["memory_bytes"][0] == 28 * GIB and PLAN["burst_shoppers"][0] == 100


def test_local_changes_only_what_it_declares_and_never_the_crowd():
    local, plan = thresholds("local"), thresholds("production")
    changed = {name for name in PLAN if local[name].value != plan[name].value}
    assert changed == set(LOCAL_SCALE)
    assert all(local[name].why_scaled for name in changed)
    assert local["burst_shoppers"].value == 100
    assert local["warm_p95_seconds"].value == 5 * LOCAL_SCALE["warm_p95_seconds"][0]


def test_a_remote_validator_is_owed_only_the_per_ip_burst_unless_told_more():
    assert min_allowed_in_burst("local", 100, env={}) == 100
    assert min_allowed_in_burst("staging", 100, env={}) == 10  # settings.rate_limit_burst
    assert min_allowed_in_burst("staging", 100, env={"VALIDATION_BURST_MIN_GRANTED": "100"}) == 100


def test_the_report_declares_its_scale_and_a_failure_closes_the_gate(tmp_path):
    verdicts = [Verdict("warm_p95", True, 2.0, 10.0, "s", "warm p95 < 5 s", "x2.0: CPU"),
                Verdict("memory", False, 3 * GIB, 1.75 * GIB, "B", "memory < 28 GiB", detail="over")]
    text = table(verdicts, "local", LOCAL_SCALE)
    assert "scaled for this machine" in text and "GATE CLOSED" in text and "3.00 GiB" in text
    write_json(tmp_path / "r.json", verdicts, "local", LOCAL_SCALE, {})
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["passed"] is False and report["scaled"]["memory_bytes"]["factor"] == 1 / 16


def test_a_remote_target_without_endpoints_cannot_run(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("VALIDATION_UPLOAD_URL", raising=False)
    assert main(["--target", "staging", "--report", str(tmp_path / "r.json")]) == 2
    assert "VALIDATION_UPLOAD_URL" in capsys.readouterr().err


def test_every_check_says_what_it_validates():
    assert list(checks.ORDER)[:2] == ["cold_start", "health"] and list(checks.ORDER)[-1] == "bad_upload"
    for run in checks.ORDER.values():
        module = __import__(run.__module__, fromlist=["_"])
        assert module.__doc__ and len(module.__doc__) > 80, run.__module__
