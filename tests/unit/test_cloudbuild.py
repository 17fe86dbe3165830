"""cloudbuild.yaml: valid for Cloud Build, and everything it names and uses exists."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.unit import cloudbuild_steps as steps

ROOT = Path(__file__).resolve().parents[2]
CLOUDBUILD = ROOT / "cloudbuild.yaml"
# Substitutions Cloud Build provides itself.
BUILT_IN = {"PROJECT_ID", "PROJECT_NUMBER", "BUILD_ID", "LOCATION", "COMMIT_SHA", "SHORT_SHA", "REVISION_ID",
            "REPO_NAME", "REPO_FULL_NAME", "BRANCH_NAME", "TAG_NAME", "TRIGGER_NAME", "TRIGGER_BUILD_CONFIG_PATH",
            "SERVICE_ACCOUNT_EMAIL", "SERVICE_ACCOUNT", "_HEAD_BRANCH", "_BASE_BRANCH", "_HEAD_REPO_URL", "_PR_NUMBER"}
# `$NAME` or `${NAME...}`, but not the `$$` escape that leaves a `$` for bash.
_USE = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")


@pytest.fixture(scope="module")
def build() -> dict:
    return yaml.safe_load(CLOUDBUILD.read_text())


def _validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.cloudbuild",
                           str(path)], capture_output=True, text=True, timeout=120)


def test_validates_against_schemastore_cloud_build_schema():
    result = _validate(CLOUDBUILD)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("broken", [
    "steps:\n  - name: python\n    waitfor: [a]\n",  # misspelt key (waitFor)
    "steps: {a: 1}\n",  # steps must be a list
])
def test_schema_check_rejects_a_broken_build(tmp_path, broken):
    path = tmp_path / "cloudbuild.yaml"
    path.write_text(broken)
    assert _validate(path).returncode != 0


def _uses(text: str) -> set[str]:
    text = text.replace("$$", "")
    return {a or b for a, b in _USE.findall(text)}


def test_every_substitution_used_is_declared_and_every_declared_one_is_used(build):
    text = CLOUDBUILD.read_text()
    body = text.split("\nsteps:", 1)[1]  # uses outside the substitutions block
    declared = set(build["substitutions"])
    used = _uses(text)
    assert used - declared - BUILT_IN == set(), "used but not declared"
    user_declared = {s for s in declared if s.startswith("_")}
    assert user_declared - _uses(body) - _uses(yaml.safe_dump(build["substitutions"])) == set()
    assert all(s.startswith("_") for s in declared), "user substitutions must start with _"


def test_no_secret_values_in_the_build():
    text = CLOUDBUILD.read_text().lower()
    for marker in ("hooks.slack.com", "password", "token=", "secretenv", "-----begin"):
        assert marker not in text


def _step(build: dict, step_id: str) -> dict:
    return next(s for s in build["steps"] if s["id"] == step_id)


def test_steps_wait_on_existing_steps_and_release_only_after_the_tests(build):
    ids = [s["id"] for s in build["steps"]]
    assert len(ids) == len(set(ids))
    graph = {s["id"]: s.get("waitFor", []) for s in build["steps"]}
    for deps in graph.values():
        assert set(deps) <= set(ids)

    assert ids[:2] == ["check-substitutions", "unit-tests"] and "waitFor" not in graph["unit-tests"]
    for step_id in ids[2:]:
        assert "unit-tests" in steps.upstream(graph, step_id), step_id
    assert {"push-image", "bootstrap-service", "deploy-functions"} <= steps.upstream(graph, "canary")
    assert "deploy-functions" in steps.upstream(graph, "schedules")


def test_files_it_names_exist(build):
    text = CLOUDBUILD.read_text()
    named = set(re.findall(r"(?:--file=|bash |replace |placeholders (?:--environment \w+ )?)(?:\./)?"
                           r"((?:[\w.-]+/)*[\w.-]+\.(?:ya?ml|sh)|[\w/]+/Dockerfile)", text))
    named |= set(re.findall(r"--file=(\S+)", text))
    generated = {n for n in named if n.startswith(".deploy/")}
    assert "gpu_service/Dockerfile" in named and "deploy/service.yaml" in named
    for name in named - generated:
        assert (ROOT / name).is_file(), name
    # What the build runs from .deploy/ is written by an earlier step of it.
    for name in generated:
        assert f"--out={name}" in text or f"> {name}" in text, name


def _modules(build: dict) -> set[str]:
    found = set()
    for step in build["steps"]:
        words = " ".join(step.get("args", [])).split()
        if step.get("entrypoint", "").endswith("python") and words[:1] == ["-m"]:
            found.add(words[1])
        found |= set(re.findall(r"python -m ([\w.]+)", " ".join(step.get("args", []))))
    return found


# Modules other branches bring; until they land, their tests say so and skip.
_ELSEWHERE = {"deploy.canary": "the ops branch (issue 3)", "scheduler": "the scheduler branch (issue 3)",
              "validation": "the staging-gate branch (issue 12)"}


def _require(module: str) -> None:
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        if module in _ELSEWHERE:
            pytest.skip(f"{module} comes with {_ELSEWHERE[module]}, not merged here yet")
        pytest.fail(f"cloudbuild.yaml runs python -m {module}, which does not exist")


@pytest.mark.parametrize("module", ["deploy.functions", "deploy.placeholders", "deploy.canary", "scheduler",
                                    "deploy.environments", "deploy.quiet_window", "validation"])
def test_python_modules_it_runs_exist(build, module):
    assert module in _modules(build)
    _require(module)


def _help(module: str, subcommand: list[str]) -> str:
    return subprocess.run([sys.executable, "-m", module, *subcommand, "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}).stdout


def test_every_python_command_line_of_a_script_passes_flags_its_module_accepts(build):
    """Script steps run several modules (plan-staging); each line's flags against its own module."""
    checked = 0
    for step in build["steps"]:
        script = " ".join(step.get("args", [])).replace("\\\n", " ")
        for line in script.splitlines():
            found = re.search(r"python -m ([\w.]+)((?: [^;|&>]*)?)", line)
            if not found or found.group(1) in ("scheduler",):
                continue
            module, rest = found.group(1), found.group(2)
            if module in _ELSEWHERE and importlib.util.find_spec(module.split(".")[0]) is None:
                continue  # another branch's module: test_python_modules_it_runs_exist says so
            _require(module)
            text = _help(module, [])
            for flag in {w.split("=", 1)[0] for w in rest.split() if w.startswith("--")}:
                assert flag in text, f"{step['id']}: {module} does not accept {flag}"
            checked += 1
    assert checked >= 5


def _flags(args: list[str]) -> set[str]:
    return {a.split("=", 1)[0] for a in " ".join(args).split() if a.startswith("--")}


@pytest.mark.parametrize(("step_id", "module", "subcommand"), [
    ("canary", "deploy.canary", []), ("schedules", "scheduler", ["apply"]), ("plan-functions", "deploy.functions", []),
    ("quiet-window", "deploy.quiet_window", []),
])
def test_flags_it_passes_are_accepted(build, step_id, module, subcommand):
    _require(module)
    help_text = subprocess.run([sys.executable, "-m", module, *subcommand, "--help"], cwd=ROOT, capture_output=True,
                               text=True, timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}).stdout
    for flag in _flags(_step(build, step_id)["args"]):
        assert flag in help_text, f"{module} does not accept {flag}"


def test_the_image_pushed_is_the_image_released(build):
    image = "${_IMAGE}:${BUILD_ID}"
    assert f"--tag={image}" in _step(build, "build-image")["args"]
    assert image in _step(build, "push-image")["args"]
    assert f"--image {image}" in " ".join(_step(build, "canary")["args"])
    assert f"IMAGE={image}" in _step(build, "render-service")["env"]
    assert build["images"] == [image]


def test_canary_runs_the_documented_gates(build):
    script = " ".join(_step(build, "canary")["args"])
    for flag in ("--project", "--region", "--service", "--image", "--tag", "--steps", "--gate-seconds"):
        assert flag in script
    assert build["substitutions"]["_CANARY_STEPS"] == "10,50,100"
    # The gates' thresholds are topology.yaml's `alerts:` (deploy/canary.py), never the build's.
    assert "--max-" not in script and not [s for s in build["substitutions"] if s.startswith("_MAX_")]


# --- The release's values: none missing, none a local default or placeholder -----------------

GOOD = dict(_UPLOADS_BUCKET="acme-pet-uploads", _RESULTS_BUCKET="acme-pet-results", _CACHE_BUCKET="acme-pet-cache",
            _STORE_ORIGINS="https://shop.acme-pets.com,https://www.acme-pets.com")


def _check(tmp_path, **overrides):
    return steps.run_step("check-substitutions", steps.values(**overrides), cwd=tmp_path)


def test_real_values_pass_the_check(tmp_path):
    done = _check(tmp_path, **GOOD)
    assert done.returncode == 0, done.stderr


def _topology_defaults() -> dict[str, str]:
    """topology.yaml's local defaults (`${NAME:-default}`) of what the check guards."""
    text = (ROOT / "topology.yaml").read_text()
    found = dict(re.findall(r"\$\{(UPLOADS_BUCKET|RESULTS_BUCKET|CACHE_BUCKET|STORE_ORIGINS):-([^}]*)\}", text))
    assert set(found) == {"UPLOADS_BUCKET", "RESULTS_BUCKET", "CACHE_BUCKET", "STORE_ORIGINS"}
    return found


@pytest.mark.parametrize(("name", "value", "why"), [
    ("_UPLOADS_BUCKET", "", "missing"),
    ("_RESULTS_BUCKET", "", "missing"),
    ("_CACHE_BUCKET", "", "missing"),
    ("_STORE_ORIGINS", "", "missing"),
    ("_REGION", "", "missing"),
    ("_STORE_ORIGINS", "http://shop.acme-pets.com", "not an https:// origin"),
    ("_STORE_ORIGINS", "https://shop.acme-pets.com, http://localhost:8000", "placeholder"),
    ("_STORE_ORIGINS", "https://shop.example.com", "placeholder"),
    *[("_" + name, value, "") for name, value in _topology_defaults().items()],
])
def test_a_missing_or_placeholder_value_fails_the_check(tmp_path, name, value, why):
    done = _check(tmp_path, **{**GOOD, name: value})
    assert done.returncode != 0
    assert f"substitution {name}" in done.stderr and why in done.stderr


def test_the_build_as_committed_fails_the_check_until_values_are_given(tmp_path):
    done = _check(tmp_path)
    assert done.returncode != 0
    for name in ("_UPLOADS_BUCKET", "_RESULTS_BUCKET", "_CACHE_BUCKET", "_STORE_ORIGINS"):
        assert f"substitution {name}: missing" in done.stderr


def test_terraform_outputs_every_value_the_check_requires():
    checked = re.search(r"for name in ([_A-Z ]+); do", steps.step("check-substitutions")["args"][1]).group(1).split()
    output = re.search(r'output "build_substitutions" \{(.*?)\n\}', (ROOT / "infra" / "outputs.tf").read_text(), re.S)
    assert output, "infra/outputs.tf has no build_substitutions output"
    given = set(re.findall(r"(_[A-Z_]+)=", output.group(1)))
    assert set(checked) <= given <= set(yaml.safe_load(CLOUDBUILD.read_text())["substitutions"])


# --- bootstrap-service: only a definite "not found" creates (replaces) the service --------------

def _bootstrap(tmp_path, describe):
    log = tmp_path / "gcloud.log"
    path = steps.fake_gcloud(tmp_path / "bin", log, describe)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / BINDINGS.name).symlink_to(BINDINGS)
    done = steps.run_step("bootstrap-service", steps.values(**GOOD), cwd=tmp_path, path=path)
    return done, steps.logged(log)


def _replaced(calls):
    return [c for c in calls if c[:3] == ["run", "services", "replace"]]


# Staging's and production's steps both grant the GPU service's roles through it.
BINDINGS = ROOT / "deploy" / "gpu_service_bindings.sh"


def _bindings(calls):
    return sorted((c[3], c[5].removeprefix("--member=serviceAccount:"), c[6].removeprefix("--role="))
                  for c in calls if c[:3] == ["run", "services", "add-iam-policy-binding"])


def _roles_granted(service, accounts):
    pusher, ops, deployer = (f"{a}@acme-pets.iam.gserviceaccount.com" for a in accounts)
    return sorted([(service, pusher, "roles/run.invoker"), (service, ops, "roles/run.invoker"),
                   (service, ops, "roles/run.developer"), (service, deployer, "roles/run.invoker")])


def test_a_missing_service_is_created_from_service_yaml(tmp_path):
    done, calls = _bootstrap(tmp_path, "not-found")
    assert done.returncode == 0, done.stderr
    assert _replaced(calls) == [["run", "services", "replace", ".deploy/service.yaml", "--region=us-central1"]]
    assert _bindings(calls) == _roles_granted("pet-cutout-gpu", ("pubsub-pusher", "fn-ops", "deployer"))


def test_an_existing_service_is_left_to_the_canary(tmp_path):
    done, calls = _bootstrap(tmp_path, "exists")
    assert done.returncode == 0, done.stderr
    assert _replaced(calls) == [] and calls[0][:3] == ["run", "services", "describe"]


@pytest.mark.parametrize("describe", ["transient", "forbidden"])
def test_any_other_describe_error_fails_the_step_without_replacing(tmp_path, describe):
    done, calls = _bootstrap(tmp_path, describe)
    assert done.returncode != 0
    assert _replaced(calls) == [] and len(calls) == 1  # nothing after the failed describe
    assert "not replacing it" in done.stderr


def test_staging_grants_the_same_roles_to_stagings_accounts(tmp_path):
    import topology
    from deploy import environments

    env = environments.of(topology.load(env={"GOOGLE_CLOUD_PROJECT": "acme-pets"}), "staging")
    names = environments.shell_values(env, project="acme-pets", region="us-central1", project_number="123456789")
    (tmp_path / ".deploy" / "staging").mkdir(parents=True)
    (tmp_path / ".deploy" / "staging" / "names.sh").write_text(
        "".join(f"export {k}='{v}'\n" for k, v in names.items()))
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / BINDINGS.name).symlink_to(BINDINGS)
    log = tmp_path / "gcloud.log"
    done = steps.run_step("deploy-staging-service", steps.values(**GOOD), cwd=tmp_path,
                          path=steps.fake_gcloud(tmp_path / "bin", log))
    assert done.returncode == 0, done.stderr
    accounts = (names["PUSHER_ACCOUNT"], names["OPS_ACCOUNT"], names["DEPLOYER_ACCOUNT"])
    assert accounts == ("pubsub-pusher-staging", "fn-ops-staging", "deployer")
    assert _bindings(steps.logged(log)) == _roles_granted("pet-cutout-gpu-staging", accounts)
