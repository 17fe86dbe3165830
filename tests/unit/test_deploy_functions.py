"""deploy.functions: every function topology.yaml lists is deployed, with the right trigger and invokers."""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import pytest
import yaml

import topology
from deploy import functions as deploy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def topo() -> dict:
    return topology.load(env={"GOOGLE_CLOUD_PROJECT": "acme"})


def test_deploys_exactly_the_topology_functions(topo):
    plan = deploy.plan(topo, "acme")
    assert [d.target for d in plan] == list(topo["functions"])
    assert all("_" not in d.name for d in plan)


def test_pubsub_functions_are_private_and_pushed_to_by_the_pusher_only(topo):
    pushed = {s["push"]["function"] for s in topo["subscriptions"] if "function" in s["push"]}
    pubsub = [d for d in deploy.plan(topo, "acme") if topo["functions"][d.target]["trigger"] == "pubsub"]
    assert {d.target for d in pubsub} == pushed == {"intake", "job_events", "dead_letter", "budget_guard", "render"}
    for d in pubsub:
        assert not d.public
        assert d.invokers == ["serviceAccount:pubsub-pusher@acme.iam.gserviceaccount.com"]


def test_invokers_follow_the_declared_callers(topo):
    by_target = {d.target: d for d in deploy.plan(topo, "acme")}
    assert by_target["upload_url"].public and by_target["job_status"].public
    assert by_target["prewarm"].invokers == ["serviceAccount:scheduler-invoker@acme.iam.gserviceaccount.com"]
    assert not by_target["prewarm"].public
    # The widget's warm-up is its own public function, as an account that cannot touch scaling.
    assert by_target["warm"].public and by_target["warm"].invokers == []
    assert by_target["warm"].service_account == "fn-warm@acme.iam.gserviceaccount.com"
    assert by_target["prewarm"].service_account == "fn-ops@acme.iam.gserviceaccount.com"
    assert by_target["rollback"].public
    assert by_target["rollback"].secrets["ROLLBACK_WEBHOOK_PASSWORD"] == "rollback-webhook-token"


def test_the_public_functions_mount_the_session_key_from_secret_manager(topo):
    cmds = deploy.commands(deploy.plan(topo, "acme"), project="acme", region="us-central1", env_file="e.yaml")
    by_name = {c[3]: c for c in cmds if c[:3] == ["gcloud", "functions", "deploy"]}
    for name in ("upload-url", "job-status"):
        assert "--set-secrets=SESSION_SIGNING_KEY=session-signing-key:latest" in by_name[name]
    assert not any("SESSION_SIGNING_KEY" in a for a in by_name["intake"])


def test_behind_the_load_balancer_only_the_public_functions_refuse_direct_traffic(topo):
    def ingress(behind: bool) -> dict[str, str]:
        return {d.target: d.ingress for d in deploy.plan(topo, "acme", behind_load_balancer=behind)}

    assert set(ingress(False).values()) == {"all"}
    behind = ingress(True)
    assert behind["upload_url"] == behind["job_status"] == behind["warm"] == "internal-and-gclb"
    # The scheduler's pre-warm is private (OIDC from Cloud Scheduler), never behind the public edge.
    assert behind["prewarm"] == "all"
    # Cloud Monitoring's webhook and Pub/Sub pushes do not come through the load balancer.
    assert behind["rollback"] == behind["intake"] == "all"


def test_behind_the_load_balancer_the_public_functions_key_rate_limits_on_the_shoppers_address(topo):
    from functions.http import client_ip

    def hops(behind: bool) -> dict[str, str | None]:
        return {d.target: d.env.get("TRUSTED_PROXY_HOPS")
                for d in deploy.plan(topo, "acme", behind_load_balancer=behind)}

    direct, behind = hops(False), hops(True)
    assert set(direct.values()) == {None}  # the shared env's one hop
    assert {t for t, h in behind.items() if h} == set(deploy.EDGE_FUNCTIONS)
    # The load balancer's layout: "<what the client sent>, <client>, <forwarding rule IP>".
    request = type("Request", (), {"headers": {"X-Forwarded-For": "6.6.6.6, 203.0.113.7, 34.120.0.1"},
                                   "remote_addr": "169.254.1.1"})()
    assert client_ip(request, int(behind["upload_url"])) == "203.0.113.7"


def test_commands_are_http_triggered_2nd_gen_python311(topo):
    cmds = deploy.commands(deploy.plan(topo, "acme"), project="acme", region="us-central1", env_file="e.yaml")
    deploys = [c for c in cmds if c[:3] == ["gcloud", "functions", "deploy"]]
    assert len(deploys) == len(topo["functions"])
    for c in deploys:
        own = "--env-vars-file=e.variant.yaml" if c[3] == "variant" else "--env-vars-file=e.yaml"
        assert {"--gen2", "--trigger-http", "--runtime=python311", "--source=.", own} <= set(c)
        assert not any(a.startswith("--trigger-topic") for a in c)


def test_the_script_and_env_file_are_written(tmp_path, monkeypatch):
    monkeypatch.setenv("STORE_ORIGINS", "https://shop.example,https://www.shop.example")
    out = tmp_path / "functions.sh"
    deploy.main(["--project", "acme", "--region", "us-central1", "--project-number", "42", "--out", str(out)])
    assert out.read_text().startswith("#!/usr/bin/env bash\nset -euxo pipefail\n")
    env = yaml.safe_load((tmp_path / "functions.env.yaml").read_text())
    assert env["STORE_ORIGINS"] == "https://shop.example,https://www.shop.example"  # commas survive in a file
    assert env["GPU_SERVICE_URL"] == "https://pet-cutout-gpu-42.us-central1.run.app"
    assert env["SIGNING_SERVICE_ACCOUNT"] == "fn-public@acme.iam.gserviceaccount.com"
    # The variant signs its GET URLs as itself: its own file, the shared one plus that.
    variant = yaml.safe_load((tmp_path / "functions.variant.env.yaml").read_text())
    assert variant == {**env, "SIGNING_SERVICE_ACCOUNT": "fn-variant@acme.iam.gserviceaccount.com"}
    assert "--env-vars-file=" + str(tmp_path / "functions.variant.env.yaml") in out.read_text()


def _gcloudignored(path: str) -> bool:
    """gitignore-style, as gcloud reads .gcloudignore (enough for its plain rules): the last rule
    that matches wins, `!` re-includes, a rule with a slash inside matches from the root."""
    rules = [r.strip() for r in (ROOT / ".gcloudignore").read_text().splitlines()
             if r.strip() and not r.startswith("#")]
    parts = path.split("/")
    ignored = False
    for rule in rules:
        negated = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/")
        if "/" in pattern:
            matched = fnmatch.fnmatch(path, pattern) or any(
                fnmatch.fnmatch("/".join(parts[:i]), pattern) for i in range(1, len(parts)))
        else:
            dirs = parts[:-1] if rule.endswith("/") else parts
            matched = any(fnmatch.fnmatch(part, pattern) for part in dirs)
        if matched:
            ignored = not negated
    return ignored


def _first_party_reach(module: str) -> set[str]:
    """Files of this repo that importing `module` loads (module-level imports, transitively)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        path = ROOT / (name.replace(".", "/") + ".py")
        if not path.is_file():
            path = ROOT / name.replace(".", "/") / "__init__.py"
        if not path.is_file() or str(path) in seen:
            continue
        seen.add(str(path))
        parts = name.split(".")
        for i in range(1, len(parts)):  # a package's __init__ runs first
            todo.append(".".join(parts[:i]))
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                todo.append(node.module)
                todo += [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                todo += [a.name for a in node.names]
    return {str(Path(p).relative_to(ROOT)) for p in seen}


def test_the_render_function_ships_every_module_it_imports():
    reached = _first_party_reach("functions.render")
    assert "cutout/imaging.py" in reached and "cutout/foreground.py" in reached
    assert not [p for p in sorted(reached) if _gcloudignored(p)]
    assert _gcloudignored("gpu_service/app.py") and _gcloudignored("gpu_service/engines/u2netp.py")


def test_functions_upload_leaves_the_gpu_image_tests_and_bench_behind():
    for path in ("gpu_service/", "tests/", "bench/", "infra/", "deploy/", ".venv/", ".models/"):
        assert _gcloudignored(path.rstrip("/") + "/x"), path


def test_functions_upload_keeps_everything_main_imports():
    tree = ast.parse((ROOT / "main.py").read_text())
    imported = {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    first_party = {m for m in imported if (ROOT / m).is_dir() or (ROOT / f"{m}.py").is_file()}
    assert first_party
    for module in first_party | {"main.py", "requirements.txt"}:
        assert not _gcloudignored(module if module.endswith((".py", ".txt")) else module + "/x"), module
    requirements = [ln.split("#")[0].strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()]
    assert not [r for r in requirements if r.startswith(("torch", "-r"))], "functions must not drag in torch"


def test_each_function_runs_as_the_account_the_declaration_names(topo, tmp_path, monkeypatch):
    by_target = {d.target: d.service_account for d in deploy.plan(topo, "acme")}
    assert by_target["upload_url"] == by_target["job_status"] == "fn-public@acme.iam.gserviceaccount.com"
    assert by_target["intake"] == "fn-pipeline@acme.iam.gserviceaccount.com"
    assert by_target["rollback"] == "fn-ops@acme.iam.gserviceaccount.com"
    # The account comes from infra/permissions.yaml: change it there, and the deploy follows.
    declaration = yaml.safe_load(deploy.PERMISSIONS.read_text())
    declaration["entry_points"]["intake"]["account"] = "fn-other"
    moved = tmp_path / "permissions.yaml"
    moved.write_text(yaml.safe_dump(declaration))
    monkeypatch.setattr(deploy, "PERMISSIONS", moved)
    assert {d.target: d.service_account for d in deploy.plan(topo, "acme")}["intake"].startswith("fn-other@")
    # A function the declaration does not name is refused, not deployed as some default.
    del declaration["entry_points"]["intake"]
    moved.write_text(yaml.safe_dump(declaration))
    with pytest.raises(ValueError, match="intake"):
        deploy.plan(topo, "acme")


def test_intake_is_deployed_with_the_memory_its_decode_budget_reads(topo, monkeypatch):
    from settings import Settings

    [intake] = [d for d in deploy.plan(topo, "p") if d.target == "intake"]
    env = deploy.environment(topo, "p", "us-central1", "123")
    assert intake.memory == f"{Settings().intake_memory_mib}Mi" == "1024Mi"
    deployed = Settings(**{name: env[name.upper()] for name in deploy.DECODE_BUDGET_SETTINGS})
    assert deployed.intake_decode_budget == Settings().intake_decode_budget
    assert deployed.gpu_decode_budget == Settings().gpu_decode_budget


def test_the_variant_is_public_behind_the_edge_with_the_memory_its_decode_budget_reads(topo):
    from settings import Settings

    [variant] = [d for d in deploy.plan(topo, "p", behind_load_balancer=True) if d.target == "variant"]
    assert variant.public and variant.invokers == [] and variant.ingress == "internal-and-gclb"
    assert variant.service_account == "fn-variant@p.iam.gserviceaccount.com"
    assert variant.memory == f"{Settings().variant_memory_mib}Mi" == "2048Mi"
    assert variant.secrets == {"SESSION_SIGNING_KEY": "session-signing-key"}
    env = deploy.environment(topo, "p", "us-central1", "123")
    deployed = Settings(**{name: env[name.upper()] for name in deploy.DECODE_BUDGET_SETTINGS})
    assert deployed.variant_decode_budget == Settings().variant_decode_budget


def test_the_functions_upload_carries_the_imaging_the_variant_renders_with():
    """Variants render on the function's CPU with the imaging the GPU service uses too (cutout/):
    it travels with the functions' source; nothing of the GPU service does."""
    for kept in ("cutout/__init__.py", "cutout/imaging.py", "cutout/foreground.py", "cutout/variant_render.py"):
        assert not _gcloudignored(kept), kept
    for left in ("gpu_service/__init__.py", "gpu_service/app.py", "gpu_service/engines/u2netp.py",
                 "gpu_service/Dockerfile", "gpu_service/requirements.txt", "gpu_service/models.py"):
        assert _gcloudignored(left), left
    requirements = (ROOT / "requirements.txt").read_text()
    assert "numpy" in requirements and "opencv-python-headless" in requirements
