"""The developer's shell cannot change what the tests see (tests/conftest.py scrubs it)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = '''
from settings import Settings, get_settings

def test_defaults_win():
    assert Settings().results_bucket == Settings.model_fields["results_bucket"].default
    assert get_settings().log_level == Settings.model_fields["log_level"].default
'''


def test_a_shell_that_exports_settings_does_not_reach_the_tests(tmp_path):
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    env = {**os.environ, "RESULTS_BUCKET": "prod-results", "log_level": "ERROR",
           "GOOGLE_APPLICATION_CREDENTIALS": "/home/dev/prod-key.json", "PYTHONPATH": str(ROOT)}
    # The probe lives outside tests/, so the project's conftest is loaded as a plugin, as pytest would.
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                          "--rootdir", str(tmp_path), str(probe)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    assert "1 passed" in run.stdout


def test_the_scrub_covers_settings_and_google_variables():
    from tests.conftest import scrubbed_environment_names

    shell = {"RESULTS_BUCKET": "x", "results_bucket": "x", "GOOGLE_APPLICATION_CREDENTIALS": "k",
             "PUBSUB_EMULATOR_HOST": "h", "PATH": "/bin", "HOME": "/root"}
    assert sorted(scrubbed_environment_names(shell)) == sorted(
        ["RESULTS_BUCKET", "results_bucket", "GOOGLE_APPLICATION_CREDENTIALS", "PUBSUB_EMULATOR_HOST"])
