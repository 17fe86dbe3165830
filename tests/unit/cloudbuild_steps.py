"""Run a cloudbuild.yaml step's bash script here, as Cloud Build would hand it to bash
(and `upstream`: what a step waits on, for the tests of the steps' order).

Cloud Build replaces `$NAME`/`${NAME}` with the substitution's value and `$$` with
a literal `$` in args and env before the step starts
(https://cloud.google.com/build/docs/configuring-builds/substitute-variable-values).
`fake_gcloud` puts a recording `gcloud` first on PATH that answers like the real
one would for a few cases.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")

# What `gcloud run services describe` says on stderr (exit 1), by case.
DESCRIBE_ERRORS = {
    "not-found": "ERROR: (gcloud.run.services.describe) Cannot find service [{service}]",
    "transient": "ERROR: (gcloud.run.services.describe) HttpError accessing <https://run.googleapis.com/...>: "
                 "response: <{{'status': '503'}}>, content <The service is currently unavailable.>",
    "forbidden": "ERROR: (gcloud.run.services.describe) PERMISSION_DENIED: Permission 'run.services.get' denied",
}


def build() -> dict:
    return yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())


def substitute(text: str, values: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        return values[match.group(1) or match.group(2)]  # KeyError: used but given no value

    return _REFERENCE.sub(one, text)


def values(**overrides: str) -> dict[str, str]:
    """The build's substitutions with Cloud Build's built-ins filled, user defaults resolved."""
    given = {"PROJECT_ID": "acme-pets", "PROJECT_NUMBER": "123456789", "BUILD_ID": "0f1e2d3c-4b5a",
             "COMMIT_SHA": "abc123"}
    declared = {**build()["substitutions"], **overrides}
    for name, value in declared.items():
        given[name] = str(value)
    for name in declared:  # defaults may refer to other substitutions (dynamicSubstitutions)
        given[name] = substitute(given[name], given)
    return given


def upstream(graph: dict[str, list[str]], step_id: str) -> set[str]:
    """Every step `step_id` waits on, directly or not, in a graph of each step's prerequisites."""
    seen: set[str] = set()
    todo = list(graph[step_id])
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo.extend(graph[dep])
    return seen


def step(step_id: str) -> dict:
    return next(s for s in build()["steps"] if s["id"] == step_id)


def run_step(step_id: str, subs: dict[str, str], *, cwd: Path, path: str | None = None,
             extra_env: dict[str, str] | None = None, workspace: bool = False) -> subprocess.CompletedProcess:
    """Run a `bash -c` step with its env entries and script substituted. `workspace`:
    `cwd` stands for /workspace (Cloud Build's working directory), absolute paths included."""
    spec = step(step_id)
    assert spec.get("entrypoint") == "bash" and spec["args"][0] == "-c", step_id
    env = {"PATH": path or os.environ["PATH"], "HOME": str(cwd)}
    for entry in spec.get("env", []):
        name, _, value = substitute(entry, subs).partition("=")
        env[name] = value
    env.update(extra_env or {})
    script = substitute(spec["args"][1], subs)
    if workspace:
        script = script.replace("/workspace/", f"{cwd}/")
        env = {k: v.replace("/workspace", str(cwd)) for k, v in env.items()}
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def fake_gcloud(bin_dir: Path, log: Path, describe: str = "exists", failing: tuple[str, ...] = ()) -> str:
    """A `gcloud` that logs its argv (JSON lines) and answers `run services describe`
    as `describe` says ("exists" or a DESCRIBE_ERRORS key); commands whose first two
    words are in `failing` (e.g. "storage cp") exit 1; other commands succeed.
    Returns a PATH with it first."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "gcloud"
    script.write_text(f"""#!{sys.executable}
import json, sys
args = sys.argv[1:]
with open({str(log)!r}, "a") as f:
    f.write(json.dumps(args) + "\\n")
if args[:3] == ["run", "services", "describe"]:
    mode, errors = {describe!r}, {json.dumps(DESCRIBE_ERRORS)}
    if mode == "exists":
        print(args[3])
        sys.exit(0)
    print(errors[mode].format(service=args[3]), file=sys.stderr)
    sys.exit(1)
if " ".join(args[:2]) in {list(failing)!r}:
    print("ERROR: (gcloud) failed as the test asked", file=sys.stderr)
    sys.exit(1)
if args[:2] == ["auth", "print-identity-token"]:
    print("id-token-for-test")
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return f"{bin_dir}:{os.environ['PATH']}"


def logged(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
