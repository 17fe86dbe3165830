"""Every `gcloud` command the release runs or the docs tell an operator to run parses
with the installed Google Cloud CLI.

Each command runs for real, with a fake project, a fresh empty configuration, no
credentials and prompts disabled. gcloud parses all arguments before it looks for
an account, so (measured with CLI 528):
- a parsing error exits 2 (`unrecognized arguments`, `argument X: Must be specified`);
- a missing value gcloud only checks after parsing (no `--region` on a Cloud Run
  command) exits 1 with its own message (`You must specify a region`);
- a command that got that far and needs the API exits 1 with
  `You do not currently have an active account selected`.
Only that last answer (or success, for local commands) passes: anything else fails.
All commands run in one gcloud process (gcloud_batch.py), which a self-test checks
against separate `gcloud` runs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from deploy import functions as deploy_functions
from deploy import placeholders
from tests.unit import cloudbuild_steps as steps

ROOT = Path(__file__).resolve().parents[2]
GCLOUD = shutil.which("gcloud")
PROJECT = "fake-project-424242"
NO_ACCOUNT = "You do not currently have an active account selected"
# Shell variables the docs' commands use, with values an operator would have set.
DOC_VARIABLES = {"PROJECT": PROJECT, "REGION": "us-central1", "SLACK_WEBHOOK_URL": "https://hooks.invalid/x",
                 "SUBSTITUTIONS": "^;^_REGION=us-central1;_UPLOADS_BUCKET=acme-pet-uploads;"
                                  "_RESULTS_BUCKET=acme-pet-results;_STORE_ORIGINS=https://shop.acme-pets.com"}
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
_OPERATORS = set("|&;()<>")

pytestmark = pytest.mark.skipif(GCLOUD is None, reason="the Google Cloud CLI is not installed")


@dataclass(frozen=True)
class Command:
    source: str  # where it was found, for the failure message
    argv: tuple[str, ...]  # after "gcloud"
    cwd: Path = ROOT


def _gcloud_calls(line: str) -> list[list[str]]:
    """The argv of each `gcloud` call in one shell command line (pipes, `$(...)`, `;`)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split, lexer.commenters = True, "#"
    calls, current = [], None
    for token in lexer:
        if set(token) <= _OPERATORS:
            if current:
                calls.append(current)
            current = None
        elif current is not None:
            current.append(token)
        elif token == "gcloud":
            current = []
    if current:
        calls.append(current)
    return calls


def _expand(word: str, variables: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: variables[m.group(1)], word)  # KeyError: a variable to add above


def doc_commands(text: str, workspace: Path) -> list[Command]:
    """Commands in the shell blocks, and inline code that is a command (it has flags).
    They run in `workspace`, where the files the docs make first (.deploy/) exist."""
    found = []
    lines = []
    for block in re.findall(r"```(?:sh|bash|shell)\n(.*?)```", text, re.S):
        lines += block.replace("\\\n", " ").splitlines()
    prose = re.sub(r"```.*?```", "", text, flags=re.S).replace("\n", " ")
    lines += [span for span in re.findall(r"`([^`]+)`", prose) if span.startswith("gcloud ") and " --" in span]
    for line in lines:
        for call in _gcloud_calls(line):
            found.append(Command(f"docs/deploy.md: {line.strip()[:100]}",
                                 tuple(_expand(word, DOC_VARIABLES) for word in call), workspace))
    return found


def functions_script_commands(tmp_path: Path) -> list[Command]:
    """The script deploy.functions writes for the build (its env file is real too)."""
    out = tmp_path / "functions" / "functions.sh"
    deploy_functions.main(["--project", PROJECT, "--region", "us-central1", "--project-number", "424242",
                           "--out", str(out)])
    commands = []
    for line in out.read_text().splitlines():
        words = shlex.split(line)
        if words[:1] == ["gcloud"]:
            commands.append(Command("deploy/functions.py's script", tuple(words[1:])))
    return commands


def workspace(tmp_path: Path) -> Path:
    """The checkout (linked) with what the build and the docs write first: .deploy/service.yaml."""
    root = tmp_path / "workspace"
    (root / ".deploy").mkdir(parents=True)
    for entry in ROOT.iterdir():
        if entry.name != ".deploy":
            (root / entry.name).symlink_to(entry)
    service = placeholders.fill(ROOT / "deploy" / "service.yaml", {"GOOGLE_CLOUD_PROJECT": PROJECT})
    (root / ".deploy" / "service.yaml").write_text(yaml.safe_dump(service))
    return root


# The build's steps that call gcloud, and the workspace files they read (written by
# earlier steps: .deploy/staging/ by plan-staging, the report by validate-staging).
GCLOUD_STEPS = {"bootstrap-service", "deploy-staging-service", "staging-token", "validation-gate"}


def _staging_files(workspace: Path) -> None:
    import topology
    from deploy import environments

    env = environments.of(topology.load(env={"GOOGLE_CLOUD_PROJECT": PROJECT}), "staging")
    staging = workspace / ".deploy" / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    values = environments.shell_values(env, project=PROJECT, region="us-central1", project_number="424242")
    (staging / "names.sh").write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in values.items()))
    service = placeholders.fill(ROOT / "deploy" / "service.yaml", {"GOOGLE_CLOUD_PROJECT": PROJECT},
                                environment="staging")
    (staging / "service.yaml").write_text(yaml.safe_dump(service))
    (workspace / ".deploy" / "validation-status").write_text("0\n")
    (workspace / "validation-report.json").write_text("{}")


def cloudbuild_commands(tmp_path: Path, workspace: Path) -> list[Command]:
    """What the build's bash steps call gcloud with, recorded by running each step
    (both branches of bootstrap-service) with a recording gcloud."""
    with_gcloud = {s["id"] for s in steps.build()["steps"] if "gcloud " in " ".join(s.get("args", []))}
    assert with_gcloud == GCLOUD_STEPS, "record the new step's gcloud calls here"
    subs = steps.values(_UPLOADS_BUCKET="acme-pet-uploads", _RESULTS_BUCKET="acme-pet-results",
                        _STORE_ORIGINS="https://shop.acme-pets.com", PROJECT_ID=PROJECT)
    _staging_files(workspace)
    calls: set[tuple[str, tuple[str, ...]]] = set()
    runs = [("bootstrap-service", d) for d in ("not-found", "exists")] + [(s, "exists") for s in sorted(GCLOUD_STEPS)
                                                                         if s != "bootstrap-service"]
    for step_id, describe in runs:
        log = tmp_path / f"gcloud-{step_id}-{describe}.log"
        path = steps.fake_gcloud(tmp_path / f"bin-{step_id}-{describe}", log, describe)
        done = steps.run_step(step_id, subs, cwd=workspace, path=path, workspace=True)
        assert done.returncode == 0, (step_id, done.stderr)
        calls |= {(step_id, tuple(argv)) for argv in steps.logged(log)}
    return [Command(f"cloudbuild.yaml {step_id}", argv, workspace) for step_id, argv in sorted(calls)]


def _env(scratch: Path) -> dict[str, str]:
    config = scratch / "gcloud-config"
    config.mkdir(parents=True, exist_ok=True)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(scratch), "CLOUDSDK_CONFIG": str(config),
            "CLOUDSDK_CORE_PROJECT": PROJECT, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1", "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1"}


def run_gcloud(command: Command, scratch: Path) -> tuple[int, str]:
    """One real `gcloud` process."""
    done = subprocess.run([GCLOUD, *command.argv], cwd=command.cwd, env=_env(scratch), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stderr


@pytest.fixture(scope="module")
def sdk(tmp_path_factory) -> tuple[str, str]:
    """(the Python gcloud runs on, the SDK root), as gcloud itself reports them."""
    scratch = tmp_path_factory.mktemp("gcloud-info")
    info = subprocess.run([GCLOUD, "info", "--format=json(basic.python_location,installation.sdk_root)"],
                          env=_env(scratch), capture_output=True, text=True, timeout=120, check=True)
    found = json.loads(info.stdout)
    return found["basic"]["python_location"], found["installation"]["sdk_root"]


def run_batch(commands: list[Command], scratch: Path, sdk: tuple[str, str]) -> list[tuple[int, str]]:
    """All commands in one gcloud process (gcloud_batch.py): a second of start-up, not one per command."""
    python, sdk_root = sdk
    request = json.dumps([{"argv": list(c.argv), "cwd": str(c.cwd)} for c in commands])
    done = subprocess.run([python, str(Path(__file__).with_name("gcloud_batch.py")), sdk_root], input=request,
                          cwd=scratch, env=_env(scratch), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return [(r["rc"], r["stderr"]) for r in json.loads(done.stdout)]


def parses(returncode: int, stderr: str) -> bool:
    return returncode == 0 or (returncode == 1 and NO_ACCOUNT in stderr)


def test_the_classification_and_the_batch_answer_as_gcloud_does(tmp_path, sdk):
    cases = {
        ("run", "services", "describe", "svc", "--region=us-central1"): True,  # needs the API: no account
        ("run", "services", "describe", "svc", "--region=us-central1", "--bogus"): False,  # exit 2
        ("run", "services", "describe", "--region=us-central1"): False,  # a required argument missing
        ("run", "services", "update-traffic", "svc", "--to-revisions=r=100"): False,  # no --region: exit 1
    }
    commands = [Command("self-test", argv) for argv in cases]
    batched = run_batch(commands, tmp_path, sdk)
    assert [rc for rc, _ in batched] == [1, 2, 2, 1]
    assert {c.argv: parses(*answer) for c, answer in zip(commands, batched, strict=True)} == cases
    # The batch answers as separate gcloud processes do (two of them: a second of CPU each).
    with ThreadPoolExecutor(max_workers=2) as pool:
        alone = list(pool.map(lambda i: run_gcloud(commands[i], tmp_path / f"alone-{i}"), (0, 3)))
    for (rc, err), (batch_rc, batch_err) in zip(alone, (batched[0], batched[3]), strict=True):
        assert (rc, err.splitlines()[0]) == (batch_rc, batch_err.splitlines()[0])


def test_every_gcloud_command_parses(tmp_path, sdk):
    files = workspace(tmp_path)
    commands = (doc_commands((ROOT / "docs" / "deploy.md").read_text(), files) + functions_script_commands(tmp_path)
                + cloudbuild_commands(tmp_path, files))
    assert len([c for c in commands if c.source.startswith("docs")]) >= 10  # the extraction found the docs' ones
    assert any(c.argv[:2] == ("functions", "deploy") for c in commands)
    assert any(c.argv[:3] == ("run", "services", "replace") for c in commands)
    started = time.monotonic()
    results = run_batch(commands, tmp_path, sdk)
    print(f"\n{len(commands)} gcloud commands in {time.monotonic() - started:.1f}s")
    wrong = [f"{c.source}\n  gcloud {shlex.join(c.argv)}\n  exit {rc}: {err.strip()[:300]}"
             for c, (rc, err) in zip(commands, results, strict=True) if not parses(rc, err)]
    assert not wrong, "\n".join(wrong)
