"""cloudbuild.yaml releases in the plan's order: build -> staging -> validation -> canary,
and no production step can start when staging's validation fails.

Cloud Build's ordering: a step with `waitFor` starts once every step it names succeeded;
a step without one (or with an empty one) waits for every step before it in the file;
`waitFor: ['-']` starts at once. A failed step fails the build, and no step waiting on it starts.
https://cloud.google.com/build/docs/configuring-builds/configure-build-step-order
"""

from __future__ import annotations

import itertools
import json
import os
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deploy import quiet_window
from tests.unit import cloudbuild_steps as steps

GOOD = dict(_UPLOADS_BUCKET="acme-pet-uploads", _RESULTS_BUCKET="acme-pet-results",
            _STORE_ORIGINS="https://shop.acme-pets.com")
# What may run before staging passed validation: local work, the image, and staging itself.
BEFORE_THE_GATE = {"check-substitutions", "unit-tests", "build-image", "push-image", "plan-staging",
                   "deploy-staging-functions", "deploy-staging-service", "staging-token", "validate-staging",
                   "validation-gate", "plan-functions", "render-service"}
PRODUCTION = {"deploy-functions", "bootstrap-service", "canary", "schedules"}
STAGING = {"deploy-staging-functions", "deploy-staging-service"}


def graph(build: dict) -> dict[str, list[str]]:
    """Each step's prerequisites, with Cloud Build's default for a step without waitFor."""
    ids = [s["id"] for s in build["steps"]]
    out = {}
    for i, s in enumerate(build["steps"]):
        wait = s.get("waitFor") or []  # none or empty: every step before it
        out[s["id"]] = [w for w in wait if w != "-"] if wait else ids[:i]
    return out


def run_build(g: dict[str, list[str]], failing: set[str]) -> set[str]:
    """The steps a build starts when `failing` fail: one starts only when all it waits on succeeded."""
    started, succeeded = set(), set()
    progress = True
    while progress:
        progress = False
        for step_id, deps in g.items():
            if step_id not in started and set(deps) <= succeeded:
                started.add(step_id)
                if step_id not in failing:
                    succeeded.add(step_id)
                progress = True
    return started


@pytest.fixture(scope="module")
def g() -> dict[str, list[str]]:
    return graph(steps.build())


def test_the_order_is_build_push_staging_validation_gate_then_production(g):
    chain = ["build-image", "push-image", "deploy-staging-service", "staging-token", "validate-staging",
             "validation-gate", "quiet-window", "bootstrap-service", "canary"]
    for earlier, later in itertools.pairwise(chain):
        assert earlier in steps.upstream(g, later), f"{later} does not wait for {earlier}"
    assert "deploy-staging-functions" in steps.upstream(g, "validate-staging")
    assert "plan-staging" in steps.upstream(g, "deploy-staging-functions")
    for step_id in PRODUCTION:
        assert {"validation-gate", "quiet-window"} <= steps.upstream(g, step_id), step_id


def test_no_step_outside_staging_and_local_work_runs_before_the_gate(g):
    """A step added later must wait for the gate unless it is listed as harmless here."""
    for step_id in set(g) - BEFORE_THE_GATE:
        assert "validation-gate" in steps.upstream(g, step_id), f"{step_id} can start before staging passed validation"
    # The two production steps allowed early only write files in the workspace.
    for step_id in ("plan-functions", "render-service"):
        assert "gcloud" not in json.dumps(steps.step(step_id)), step_id


def test_a_failed_validation_starts_no_production_step(g):
    for failed in ("validate-staging", "validation-gate", "deploy-staging-service", "staging-token"):
        started = run_build(g, {failed})
        assert not started & (PRODUCTION | {"quiet-window"}), (failed, started & PRODUCTION)
    # The simulation can fail: with nothing failing, everything starts.
    assert run_build(g, set()) == set(g)


def test_the_simulation_sees_a_path_around_the_gate(g):
    """The check above would catch a canary that waited only on the image."""
    bypass = {**g, "canary": ["push-image"]}
    assert "canary" in run_build(bypass, {"validation-gate"})


# --- the scripts: the suite's verdict, the gate, the window, staging alone --------------

def _fake_python(workspace: Path, exit_code: int, writes_report: bool = True) -> Path:
    """/workspace/.venv-ci/bin/python standing in for `python -m validation` (and deploy.quiet_window)."""
    python = workspace / ".venv-ci" / "bin" / "python"
    python.parent.mkdir(parents=True, exist_ok=True)
    python.write_text(f"""#!{sys.executable}
import json, os, sys
with open({str(workspace / 'python-calls.log')!r}, "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "env": dict(os.environ)}}) + "\\n")
if sys.argv[1:3] == ["-m", "validation"] and {writes_report!r}:
    report = sys.argv[sys.argv.index("--report") + 1]
    open(report, "w").write(json.dumps({{"verdict": "fail" if {exit_code} else "pass"}}))
sys.exit({exit_code})
""")
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return python


def _python_calls(workspace: Path) -> list[dict]:
    log = workspace / "python-calls.log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _staging_names(workspace: Path) -> None:
    import topology
    from deploy import environments

    env = environments.of(topology.load(env={"GOOGLE_CLOUD_PROJECT": "acme-pets"}), "staging")
    values = environments.shell_values(env, project="acme-pets", region="us-central1", project_number="123456789")
    (workspace / ".deploy" / "staging").mkdir(parents=True, exist_ok=True)
    (workspace / ".deploy" / "staging" / "names.sh").write_text(
        "".join(f"export {k}='{v}'\n" for k, v in values.items()))
    (workspace / ".deploy" / "staging" / "gpu-id-token").write_text("id-token-for-test\n")


def _validate(tmp_path: Path, exit_code: int, writes_report: bool = True):
    _staging_names(tmp_path)
    _fake_python(tmp_path, exit_code, writes_report)
    return steps.run_step("validate-staging", steps.values(**GOOD), cwd=tmp_path, workspace=True)


def _gate(tmp_path: Path, failing: tuple[str, ...] = ()):
    log = tmp_path / "gcloud.log"
    path = steps.fake_gcloud(tmp_path / "bin", log, failing=failing)
    done = steps.run_step("validation-gate", steps.values(**GOOD), cwd=tmp_path, path=path, workspace=True)
    return done, steps.logged(log)


def test_the_suite_runs_against_stagings_endpoints_and_its_verdict_is_written_down(tmp_path):
    done = _validate(tmp_path, exit_code=3)
    assert done.returncode == 0, done.stderr  # the gate, next, fails the build
    assert (tmp_path / ".deploy" / "validation-status").read_text().strip() == "3"
    [call] = _python_calls(tmp_path)
    assert call["argv"] == ["-m", "validation", "--target", "staging", "--report", f"{tmp_path}/validation-report.json"]
    env = call["env"]
    assert env["VALIDATION_UPLOAD_URL"] == "https://us-central1-acme-pets.cloudfunctions.net/upload-url-staging"
    assert env["VALIDATION_JOB_STATUS_URL"].endswith("/job-status-staging")
    assert env["VALIDATION_GPU_URL"] == "https://pet-cutout-gpu-staging-123456789.us-central1.run.app"
    assert env["VALIDATION_GPU_ID_TOKEN"] == "id-token-for-test"
    assert env["VALIDATION_COLD_START_WAIT_SECONDS"] == "900"


def test_a_passed_validation_opens_the_gate_and_keeps_the_report(tmp_path):
    assert _validate(tmp_path, exit_code=0).returncode == 0
    done, calls = _gate(tmp_path)
    assert done.returncode == 0, done.stderr
    assert calls == [["storage", "cp", f"{tmp_path}/validation-report.json",
                      "gs://acme-pets_cloudbuild/validation/0f1e2d3c-4b5a/report.json"]]


@pytest.mark.parametrize(("exit_code", "writes_report", "failing", "why"), [
    (1, True, (), "(1)"),  # a failed check: the report is still kept
    (0, False, (), "no report"),
    (0, True, ("storage cp",), "report not kept"),
])
def test_the_gate_stops_the_release(tmp_path, exit_code, writes_report, failing, why):
    _validate(tmp_path, exit_code, writes_report)
    done, calls = _gate(tmp_path, failing)
    assert done.returncode != 0
    assert why in done.stderr and "production is not released" in done.stderr
    if writes_report:
        assert calls and calls[0][:2] == ["storage", "cp"]


def test_the_gate_fails_closed_without_a_verdict(tmp_path):
    (tmp_path / "validation-report.json").write_text("{}")
    done, _ = _gate(tmp_path)
    assert done.returncode != 0 and "no status" in done.stderr


def test_the_report_is_a_build_artifact_where_the_gate_keeps_it():
    build = steps.build()
    assert build["artifacts"]["objects"]["paths"] == ["validation-report.json"]
    location = build["artifacts"]["objects"]["location"]
    assert location == "gs://${PROJECT_ID}_cloudbuild/validation/${BUILD_ID}/artifacts/"
    # Not the gate's object: rewriting it would need storage.objects.delete.
    assert "validation/${BUILD_ID}/report.json" in json.dumps(steps.step("validation-gate"))


def _release_subs(**overrides):
    return steps.values(**GOOD, **overrides)


@pytest.mark.parametrize("step_id", sorted(PRODUCTION))
def test_staging_alone_leaves_every_production_step_at_its_first_line(tmp_path, step_id):
    log = tmp_path / "gcloud.log"
    path = steps.fake_gcloud(tmp_path / "bin", log)
    _fake_python(tmp_path, exit_code=0)
    done = steps.run_step(step_id, _release_subs(_RELEASE="staging"), cwd=tmp_path, path=path, workspace=True)
    assert done.returncode == 0, done.stderr
    assert "production untouched" in done.stdout
    assert steps.logged(log) == [] and _python_calls(tmp_path) == []


@pytest.mark.parametrize(("release", "window", "called"), [
    ("production", "enforce", ["-m", "deploy.quiet_window"]),
    ("production", "ignore", ["-m", "deploy.quiet_window", "--ignore"]),
    ("staging", "enforce", None),
])
def test_the_quiet_window_step(tmp_path, release, window, called):
    _fake_python(tmp_path, exit_code=0)
    done = steps.run_step("quiet-window", _release_subs(_RELEASE=release, _QUIET_WINDOW=window), cwd=tmp_path,
                          workspace=True)
    assert done.returncode == 0, done.stderr
    calls = _python_calls(tmp_path)
    assert ([c["argv"] for c in calls] == [called]) if called else calls == []


@pytest.mark.parametrize(("name", "value"), [("_RELEASE", "prod"), ("_QUIET_WINDOW", "off")])
def test_a_misspelt_switch_fails_the_first_step(tmp_path, name, value):
    done = steps.run_step("check-substitutions", _release_subs(**{name: value}), cwd=tmp_path)
    assert done.returncode != 0 and f"substitution {name}" in done.stderr


@pytest.mark.parametrize(("utc", "inside"), [
    ("2026-01-15T07:30:00+00:00", True),   # 02:30 EST
    ("2026-01-15T06:59:00+00:00", False),  # 01:59 EST
    ("2026-01-15T11:00:00+00:00", False),  # 06:00 EST: the window has closed
    ("2026-07-15T09:59:00+00:00", True),   # 05:59 EDT
    ("2026-07-15T10:30:00+00:00", False),  # 06:30 EDT (it would be 05:30 in EST: daylight time counts)
    ("2026-07-15T18:00:00+00:00", False),  # afternoon
])
def test_the_window_is_two_to_six_us_eastern(utc, inside):
    assert quiet_window.inside(datetime.fromisoformat(utc)) is inside


def test_outside_the_window_only_the_operators_word_releases(capsys):
    afternoon = "2026-07-15T18:00:00+00:00"
    assert quiet_window.main(["--now", afternoon]) == 1
    assert "production untouched" in capsys.readouterr().err
    assert quiet_window.main(["--now", afternoon, "--ignore"]) == 0
    assert quiet_window.main(["--now", "2026-07-15T07:00:00+00:00"]) == 0  # 03:00 EDT
    with pytest.raises(ValueError):
        quiet_window.inside(datetime(2026, 7, 15, 3, 0))
    assert quiet_window.inside(datetime(2026, 7, 15, 7, 0, tzinfo=UTC))


def test_the_staging_steps_deploy_staging_names_only():
    for step_id in ("plan-staging", "deploy-staging-functions", "deploy-staging-service", "staging-token"):
        text = json.dumps(steps.step(step_id))
        assert "staging" in text, step_id
        assert "--environment production" not in text and "deploy.canary" not in text, step_id
    assert "--environment staging" in json.dumps(steps.step("plan-staging"))
    assert os.path.basename(".deploy/staging/service.yaml") in json.dumps(steps.step("deploy-staging-service"))


def test_staging_is_planned_from_the_same_deployment_settings_as_production():
    """Every setting production's plan-functions hands the deploy tools, staging's plan hands them too
    (once, staging's cache bucket fell back to the default name and its cache lookups were off)."""
    def names(step_id):
        return {entry.split("=", 1)[0] for entry in steps.step(step_id).get("env", [])}

    assert names("plan-functions") - {"PYTHONPATH"} <= names("plan-staging")
