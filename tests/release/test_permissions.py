"""Every service account holds the permissions its code needs, and no role it does not use.

Needs: infra/permissions.yaml says which operations each entry point performs and
what each needs; these tests first prove that list against the code (an AST walk,
tests/release/iam_reach.py; the release's gcloud commands; the secrets functions mount).
Grants: infra/access, evaluated by terraform itself, plus the bindings the build
makes (cloudbuild.yaml's `bind`, deploy/functions.py's invoker bindings). Roles to
permissions: infra/roles.yaml (a vendored subset of Google's IAM reference) and the
custom roles in infra/access. IAM conditions are evaluated, never skipped.
"""

from __future__ import annotations

import abc
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

import topology
from deploy import environments
from deploy import functions as deploy_functions
from deploy.placeholders import fill
from tests.release import iam_reach
from tests.release.test_infra import TERRAFORM, needs_terraform

ROOT = Path(__file__).resolve().parents[2]
DECLARATION = yaml.safe_load((ROOT / "infra" / "permissions.yaml").read_text())
ROLES = yaml.safe_load((ROOT / "infra" / "roles.yaml").read_text())["roles"]
BUILD = yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())
PROJECT = "acme-prod"
# Build steps that call no Google API themselves (local work inside the build).
SERVICE_YAML = Path(__file__).resolve().parents[2] / "deploy" / "service.yaml"
LOCAL_STEPS = {"check-substitutions", "unit-tests", "build-image", "plan-functions", "render-service", "plan-staging",
               "quiet-window"}  # no Google API calls


@dataclass(frozen=True)
class Need:
    account: str
    permission: str
    resource: str
    why: str


@dataclass(frozen=True)
class Grant:
    account: str
    role: str
    scope: str  # "project" or a resource
    condition: str | None = None
    source: str = ""


# --- what the code does --------------------------------------------------------

def _params(uses_value) -> list[dict]:
    if isinstance(uses_value, list):
        return uses_value
    return [uses_value or {}]


def _ports() -> dict[str, type]:
    from adapters.blobs import BlobStore
    from adapters.cloud_run import CloudRun
    from adapters.jobs import JobRepository
    from adapters.leases import LeaseStore
    from adapters.messages import Publisher
    from adapters.metrics import RevisionMetrics
    from adapters.notify import Notifier, ServiceCaller
    from adapters.ops_store import OpsStore
    from adapters.rate_limits import RateLimiter
    from adapters.reports import ReportSource, RequestCounts

    found = {"jobs": JobRepository, "blobs": BlobStore, "publisher": Publisher, "leases": LeaseStore,
             "store": OpsStore, "cloud_run": CloudRun, "metrics": RevisionMetrics, "caller": ServiceCaller,
             "notifier": Notifier, "limiter": RateLimiter, "source": ReportSource,
             "request_counts": RequestCounts}
    assert set(found) | {"cloud_scheduler"} == set(iam_reach.PORTS)
    return found


def _gcloud_command(argv: list[str]) -> str:
    """The declared command an argv runs (the longest declared prefix), or the argv itself."""
    words = " ".join(a for a in argv if not a.startswith("-"))
    declared = [op for op in DECLARATION["operations"] if op.startswith("gcloud ")]
    matches = [op for op in declared if words == op or words.startswith(op + " ")]
    return max(matches, key=len) if matches else " ".join(argv[:4])


def _step(step_id: str) -> dict:
    return next(s for s in BUILD["steps"] if s["id"] == step_id)


def _script_commands(step: dict) -> list[list[str]]:
    script = "\n".join(step.get("args", []))
    # What the step's own script does, and what the repository's scripts it runs do.
    script += "".join("\n" + (ROOT / name).read_text() for name in re.findall(r"\bbash (deploy/[\w.-]+\.sh)", script))
    script = "\n".join(ln for ln in script.splitlines() if not ln.lstrip().startswith("#"))  # comments run nothing
    return [line.split() for line in re.findall(r"gcloud [^;|&\n>]+", script)]


def _deploy_plan(environment: str = "production"):
    topo = topology.load(env={"GOOGLE_CLOUD_PROJECT": PROJECT})
    return topo, deploy_functions.plan(topo, PROJECT, environment=environment)


def _logical(account: str, environment: str) -> str:
    """An account id of a deployment, by its logical name (fn-public-staging -> fn-public)."""
    suffix = environments.of(topology.load(env={}), environment).suffix
    return account[: -len(suffix)] if suffix and account.endswith(suffix) else account


# Steps that deploy the functions, and the deployment each serves.
FUNCTION_DEPLOYS = {"deploy-functions": "production", "deploy-staging-functions": "staging"}


def found_operations(name: str, entry: dict) -> dict[str, list[dict]]:
    """What the entry point really does: operation -> the parameters it is used with."""
    ops: dict[str, list[dict]] = {}
    if name in FUNCTION_DEPLOYS:
        topo, plan = _deploy_plan(FUNCTION_DEPLOYS[name])
        cmds = deploy_functions.commands(plan, project=PROJECT, region="us-central1", env_file="env.yaml")
        runtimes = {d.service_account.split("@")[0] for d in plan}
        runtimes |= {re.search(r"serviceAccounts/([\w-]+)@", c).group(1) for cmd in cmds for c in cmd
                     if c.startswith("--build-service-account=")}
        for cmd in cmds:
            ops.setdefault(_gcloud_command(cmd), [{}])
        ops["gcloud functions deploy"] = [{"runtime": r} for r in sorted({_logical(r, FUNCTION_DEPLOYS[name])
                                                                          for r in runtimes})]
        return ops
    if entry.get("container"):  # a sidecar of the GPU service: it does what Google documents for it
        service = fill(SERVICE_YAML)
        containers = {c["name"] for c in service["spec"]["template"]["spec"]["containers"]}
        return {"collector.write_time_series": [{}]} if entry["container"] in containers else {}
    if entry.get("step") == "*":
        return {op: [{}] for op in ("build.logs", "build.source", "build.artifacts" if BUILD.get("artifacts") else "")
                if op}
    if entry.get("step") and "runs" not in entry:
        step = _step(entry["step"])
        if step.get("args", [None])[0] == "push":
            ops["docker push"] = [{}]
        for cmd in _script_commands(step):
            ops.setdefault(_gcloud_command(cmd), [{}])
        return ops
    for op in iam_reach.reach(entry["runs"]):
        ops[op] = _params(entry["uses"].get(op))  # which bucket or topic is the declaration's word
    if entry["runs"].startswith("main:"):
        secrets = deploy_functions.SECRETS.get(entry["runs"].split(":")[1], {})
        if secrets:
            ops["secret.mount"] = [{"secret": s} for s in sorted(set(secrets.values()))]
    return ops


def needs() -> list[Need]:
    out = []
    for name, entry in DECLARATION["entry_points"].items():
        for op, used in entry["uses"].items():
            for params in _params(used):
                for need in DECLARATION["operations"][op]:
                    resource = need["at"].format(project=PROJECT, **params)
                    out += [Need(entry["account"], p, resource, f"{name}: {op}") for p in need["permissions"]]
    for account, identity in DECLARATION["identities"].items():
        for need in identity["needs"]:
            out += [Need(account, p, need["at"], identity["why"]) for p in need["permissions"]]
    return out


# --- what infra/ and the build grant --------------------------------------------

@pytest.fixture(scope="module")
def access() -> dict:
    if TERRAFORM is None:
        pytest.skip("terraform is not installed")
    return evaluate_access()


def evaluate_access() -> dict:
    """infra/access evaluated by terraform (the module used in place, as infra/iam.tf uses it)."""
    work = ROOT / ".local" / "tf-access"
    work.mkdir(parents=True, exist_ok=True)
    (work / "main.tf").write_text(f'module "a" {{\n  source  = "../../infra/access"\n  project = "{PROJECT}"\n}}\n')
    env = {"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1", "PATH": "/usr/bin:/bin:/usr/local/bin"}
    init = subprocess.run([TERRAFORM, "init", "-input=false", "-backend=false"], cwd=work, capture_output=True,
                          text=True, timeout=120, env=env)
    assert init.returncode == 0, init.stderr
    outputs = ["accounts", "custom_roles", "bucket_roles", "topic_roles", "project_roles", "sa_roles",
               "secret_roles", "repository_roles"]
    expression = "jsonencode({" + ", ".join(f"{o} = module.a.{o}" for o in outputs) + "})\n"
    result = subprocess.run([TERRAFORM, "console"], cwd=work, input=expression, capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(json.loads(result.stdout.strip().splitlines()[-1]))


def _member_account(member: str) -> str:
    return re.fullmatch(r"serviceAccount:([\w-]+)@[\w.-]+", member).group(1)


def grants(access: dict) -> list[Grant]:
    out = []
    for key, g in access["project_roles"].items():
        condition = g["condition"]["expression"] if g.get("condition") else None
        out.append(Grant(g["sa"], g["role"], "project", condition, f"project_roles.{key}"))
    out += [Grant(g["sa"], g["role"], f"bucket/{g['bucket']}", None, f"bucket_roles.{k}")
            for k, g in access["bucket_roles"].items()]
    out += [Grant(g["sa"], g["role"], f"topic/{g['topic']}", None, f"topic_roles.{k}")
            for k, g in access["topic_roles"].items()]
    out += [Grant(g["sa"], g["role"], f"sa/{g['account']}", None, f"sa_roles.{k}")
            for k, g in access["sa_roles"].items()]
    out += [Grant(g["sa"], g["role"], f"secret/{g['secret']}", None, f"secret_roles.{k}")
            for k, g in access["secret_roles"].items()]
    out += [Grant(g["sa"], g["role"], "repository/images", None, f"repository_roles.{k}")
            for k, g in access["repository_roles"].items()]
    # The build binds roles on the GPU service it creates (cloudbuild.yaml bootstrap-service runs
    # deploy/gpu_service_bindings.sh with production's accounts in PUSHER_ACCOUNT=... words).
    step = "\n".join(_step("bootstrap-service")["args"])
    assert "bash deploy/gpu_service_bindings.sh" in step
    accounts = dict(re.findall(r"\b(\w+_ACCOUNT)=([\w-]+)", step))
    bindings = (ROOT / "deploy" / "gpu_service_bindings.sh").read_text()
    binds = re.findall(r'^bind "\$(\w+)" (roles/[\w.]+)', bindings, re.M)
    assert binds and {var for var, _ in binds} <= set(accounts)
    out += [Grant(accounts[var], role, "service/gpu", None, "deploy/gpu_service_bindings.sh")
            for var, role in binds]
    # deploy/functions.py binds invokers on the functions it deploys.
    _, plan = _deploy_plan()
    out += [Grant(_member_account(m), "roles/run.invoker", "service/functions", None, f"deploy.functions {d.target}")
            for d in plan for m in d.invokers]
    return out


def permissions_of(role: str, access: dict) -> set[str]:
    custom = re.fullmatch(rf"projects/{PROJECT}/roles/(\w+)", role)
    if custom:
        return set(access["custom_roles"][custom.group(1)]["permissions"])
    if role not in ROLES:
        raise KeyError(f"{role} is not in infra/roles.yaml: vendor its permissions from Google's IAM reference")
    return set(ROLES[role])


def resource_name(resource: str) -> str:
    """The full resource name an IAM condition sees."""
    kind, _, ident = resource.partition("/")
    if kind == "database":
        return f"projects/{PROJECT}/databases/{ident}"
    if kind == "bucket":
        buckets = topology.load(env={"GOOGLE_CLOUD_PROJECT": PROJECT})["buckets"]
        return f"projects/_/buckets/{buckets[ident]['name'] if ident in buckets else ident}"
    return f"projects/{PROJECT}/{kind}/{ident}" if ident else f"projects/{PROJECT}"


_ATOM = re.compile(r"""^resource\.name\s*(==\s*|\.startsWith\(\s*)(["'])(.*?)\2\s*\)?$""")


def condition_holds(expression: str, resource: str) -> bool:
    """A small CEL subset: `resource.name == "x"`, `resource.name.startsWith("x")`, with || and &&."""
    name = resource_name(resource)
    def atom(text: str) -> bool:
        match = _ATOM.match(text.strip().strip("()").strip())
        if not match:
            raise ValueError(f"cannot evaluate IAM condition {text!r}: extend condition_holds")
        return name == match.group(3) if match.group(1).startswith("==") else name.startswith(match.group(3))
    return any(all(atom(a) for a in alternative.split("&&")) for alternative in expression.split("||"))


def covers(grant: Grant, need: Need, access: dict) -> bool:
    if grant.account != need.account or need.permission not in permissions_of(grant.role, access):
        return False
    if grant.scope not in ("project", need.resource):
        return False
    return grant.condition is None or condition_holds(grant.condition, need.resource)


def missing(all_grants: list[Grant], all_needs: list[Need], access: dict) -> list[str]:
    return sorted({f"{n.account} lacks {n.permission} on {n.resource} ({n.why})" for n in all_needs
                   if not any(covers(g, n, access) for g in all_grants)})


# --- the code's needs are declared ---------------------------------------------

def test_every_port_method_is_declared():
    declared = set(DECLARATION["operations"])
    for name, port in _ports().items():
        methods = {m for m in dir(port) if getattr(getattr(port, m), "__isabstractmethod__", False)}
        assert issubclass(port, abc.ABC) and methods
        assert {f"{name}.{m}" for m in methods} <= declared, name


def test_ports_go_by_their_names():
    assert iam_reach.misnamed_ports() == []


@pytest.mark.parametrize("name", sorted(DECLARATION["entry_points"]))
def test_each_entry_point_declares_exactly_what_it_does(name):
    entry = DECLARATION["entry_points"][name]
    found = found_operations(name, entry)
    declared = {op: _params(v) for op, v in entry["uses"].items()}
    assert sorted(found) == sorted(declared)
    for op, params in found.items():
        if name in FUNCTION_DEPLOYS or "secret" in op or "runs" not in entry:
            assert sorted(map(str, params)) == sorted(map(str, declared[op])), op


# Where a call names its bucket or topic through settings, the declared one must be that.
_SETTING_RESOURCE = {"uploads_bucket": ("bucket", "uploads"), "results_bucket": ("bucket", "results")}


def _resource_of(argument: str) -> tuple[str, str] | None:
    from settings import Settings

    field = argument.rsplit(".", 1)[-1]
    if field in _SETTING_RESOURCE:
        return _SETTING_RESOURCE[field]
    if field.endswith("_topic") and field in Settings.model_fields:
        return "topic", getattr(Settings(), field)
    return None  # a bucket or topic the message names: the declaration's word


@pytest.mark.parametrize("name", sorted(n for n, e in DECLARATION["entry_points"].items() if "runs" in e
                                        and e["runs"] != "deploy.functions"))
def test_declared_buckets_and_topics_are_the_ones_the_calls_name(name):
    entry = DECLARATION["entry_points"][name]
    for op, arguments in iam_reach.reach_with_arguments(entry["runs"]).items():
        declared = {(k, v) for params in _params(entry["uses"].get(op)) for k, v in params.items()}
        for argument in arguments:
            if resource := _resource_of(argument):
                assert resource in declared, f"{name}: {op}({argument}, ...) but declared {sorted(declared)}"


def test_the_walk_sees_a_new_adapter_call(tmp_path, monkeypatch):
    """An undeclared call added to a handler shows up in what the entry point reaches."""
    source = (ROOT / "functions" / "job_events.py").read_text()
    changed = source.replace("    job, changed = jobs.update(",
                             "    jobs.create(None)\n    job, changed = jobs.update(", 1)
    assert changed != source
    import ast

    iam_reach.modules.cache_clear()
    iam_reach._names.cache_clear()
    real = iam_reach.modules()
    monkeypatch.setattr(iam_reach, "modules", lambda: {**real, "functions.job_events": ast.parse(changed)})
    assert "jobs.create" in iam_reach.reach("main:job_events")
    iam_reach._names.cache_clear()


def test_entry_points_run_as_the_accounts_that_deploy_them():
    entries = DECLARATION["entry_points"]
    topo, plan = _deploy_plan()
    assert {d.target: d.service_account.split("@")[0] for d in plan} == {
        n: e["account"] for n, e in entries.items() if e.get("runs", "").startswith("main:")}
    service = fill(SERVICE_YAML, {"GOOGLE_CLOUD_PROJECT": PROJECT}, environment="production")
    assert service["spec"]["template"]["spec"]["serviceAccountName"].startswith(f"{entries['gpu_service']['account']}@")
    build_account = re.search(r"serviceAccounts/([\w-]+)@", BUILD["serviceAccount"]).group(1)
    steps = {e["step"]: e["account"] for e in entries.values() if "step" in e}
    assert set(steps.values()) == {build_account}
    assert {s["id"] for s in BUILD["steps"]} == (set(steps) - {"*"}) | LOCAL_STEPS
    for step_id, entry in ((e["step"], e) for e in entries.values() if "runs" in e and "step" in e):
        # The step runs the module, or the script a step it waits for wrote with it.
        steps_text = " ".join(str(_step(s).get("args", [])) for s in [step_id, *_step(step_id).get("waitFor", [])])
        assert entry["runs"].split(":")[0].replace(".__main__", "") in steps_text, step_id


# --- infra/ grants them, and nothing more ---------------------------------------

@needs_terraform
def test_every_account_holds_every_permission_it_needs(access):
    problems = missing(grants(access), needs(), access)
    assert not problems, "\n".join(problems)


@needs_terraform
def test_the_accounts_are_the_declared_ones(access):
    assert set(access["accounts"]) == set(DECLARATION["accounts"])
    accounts = {e["account"] for e in DECLARATION["entry_points"].values()} | set(DECLARATION["identities"])
    assert accounts == set(DECLARATION["accounts"])


@needs_terraform
def test_conditions_are_honoured(access):
    """The build-source grant reads the staging bucket only: not the uploads."""
    source = next(g for g in grants(access) if g.condition and "cloudbuild" in g.condition)
    assert condition_holds(source.condition, f"bucket/{PROJECT}_cloudbuild")
    assert not condition_holds(source.condition, "bucket/uploads")
    reads_uploads = Need(source.account, "storage.objects.get", "bucket/uploads", "probe")
    assert not any(covers(g, reads_uploads, access) for g in grants(access))


@needs_terraform
def test_the_check_fails_when_a_grant_is_missing(access):
    everything = grants(access)
    without = [g for g in everything if g.source != "repository_roles.deployer-push"]
    assert any("artifactregistry.repositories.uploadArtifacts" in m for m in missing(without, needs(), access))


@needs_terraform
def test_every_grant_is_used(access):
    """Each grant holds at least one permission its account needs where it applies."""
    all_needs = needs()
    unused = [f"{g.source}: {g.account} {g.role} on {g.scope}" for g in grants(access)
              if not any(covers(g, n, access) for n in all_needs)]
    assert not unused, "\n".join(unused)


@needs_terraform
def test_custom_roles_hold_only_needed_permissions(access):
    all_needs, all_grants = needs(), grants(access)
    for role_id, role in access["custom_roles"].items():
        name = f"projects/{PROJECT}/roles/{role_id}"
        holders = [g for g in all_grants if g.role == name]
        used = {n.permission for g in holders for n in all_needs if covers(g, n, access)}
        assert set(role["permissions"]) == used, role_id


# --- least privilege, stated --------------------------------------------------

def _holds(access, account: str, permission: str, resource: str) -> bool:
    probe = Need(account, permission, resource, "probe")
    return any(covers(g, probe, access) for g in grants(access))


@needs_terraform
def test_the_public_functions_cannot_read_shoppers_photos_or_write_beyond_their_documents(access):
    public = {DECLARATION["entry_points"][f]["account"] for f in ("upload_url", "job_status")}
    assert len(public) == 1 and public != {DECLARATION["entry_points"]["intake"]["account"]}
    (account,) = public
    assert not _holds(access, account, "storage.objects.get", "bucket/uploads")
    assert not _holds(access, account, "storage.objects.list", "bucket/uploads")
    for permission in ("datastore.entities.delete", "datastore.entities.list"):
        assert not _holds(access, account, permission, "database/(default)")
    for permission in ("datastore.entities.create", "datastore.entities.update", "datastore.entities.get"):
        assert not _holds(access, account, permission, "database/ops")


@needs_terraform
def test_the_public_warm_up_cannot_scale_the_gpu_service_or_rewrite_operations_state(access):
    account = DECLARATION["entry_points"]["warm"]["account"]
    assert account not in {DECLARATION["entry_points"][f]["account"] for f in ("prewarm", "upload_url")}
    for permission in ("run.services.update", "run.services.get", "run.routes.invoke"):
        assert not _holds(access, account, permission, "service/gpu")
    for permission in ("datastore.entities.update", "datastore.entities.delete"):
        assert not _holds(access, account, permission, "database/ops")
    assert _holds(access, account, "datastore.entities.create", "database/ops")  # its warm-ups and log
    assert _holds(access, account, "pubsub.topics.publish", "topic/warm-requests")
    assert not _holds(access, account, "pubsub.topics.publish", "topic/segment-requests")


@needs_terraform
def test_the_gpu_service_cannot_write_operations_state(access):
    account = DECLARATION["entry_points"]["gpu_service"]["account"]
    for permission in ("datastore.entities.create", "datastore.entities.update", "datastore.entities.delete"):
        assert not _holds(access, account, permission, "database/ops")
    assert _holds(access, account, "datastore.entities.update", "database/(default)")  # its leases


def test_ops_state_is_in_the_database_the_declaration_protects():
    from settings import Settings

    ops_ops = {op for op, needs_ in DECLARATION["operations"].items() if op.startswith("store.")
               and all(n["at"] == f"database/{Settings().ops_database}" for n in needs_)}
    assert {"store.record", "store.set_known_good", "store.claim"} <= ops_ops
    assert set(DECLARATION["databases"]) == {"(default)", Settings().ops_database}


def test_terraform_makes_one_resource_per_access_entry_and_grants_nothing_else():
    text = "\n".join(p.read_text() for p in sorted((ROOT / "infra").glob("*.tf")))
    blocks = re.findall(r'^resource "(google_\w+_iam_(?:member|custom_role))" "([\w-]+)" \{\n(.*?)^\}',
                        text, re.S | re.M)
    for kind, name, body in blocks:
        if "google_service_account.runtime" in body.split("member", 1)[-1] or name == "access":
            assert name == "access", f"{kind}.{name}: grant to our accounts outside infra/access"
            assert re.search(r"for_each\s*=\s*module\.access\.\w+", body), f"{kind}.{name}"
    made = {kind for kind, name, _ in blocks if name == "access"}
    assert made == {"google_project_iam_custom_role", "google_storage_bucket_iam_member",
                    "google_pubsub_topic_iam_member", "google_project_iam_member",
                    "google_service_account_iam_member", "google_secret_manager_secret_iam_member",
                    "google_artifact_registry_repository_iam_member"}


@needs_terraform
def test_the_vendored_roles_are_the_ones_in_use(access):
    predefined = {g.role for g in grants(access) if g.role.startswith("roles/")}
    assert predefined == set(ROLES)


# --- docs/deploy.md's table ----------------------------------------------------

def _table() -> dict[str, tuple[set[str], set[str]]]:
    """account -> (entry points in `what runs as it`, roles in `roles`), from docs/deploy.md."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    rows = {}
    for line in text.split("| account | what runs as it | roles | why |", 1)[1].splitlines()[2:]:
        if not line.startswith("| `"):
            break
        account, runs, roles, why = [cell.strip() for cell in line.strip("|").split(" | ")]
        assert why, account
        rows[account.strip("`")] = (set(re.findall(r"`([\w-]+)`", runs)),
                                    set(re.findall(r"`(roles/[\w.]+|petCutout\w+)`", roles)))
    return rows


@needs_terraform
def test_the_deploy_guide_table_matches_infra_and_the_declaration(access):
    table = _table()
    assert set(table) == set(DECLARATION["accounts"])
    granted: dict[str, set[str]] = {}
    for g in grants(access):
        role = g.role.rsplit("/", 1)[-1] if g.role.startswith("projects/") else g.role
        granted.setdefault(g.account, set()).add(role)
    for account, (runs, roles) in table.items():
        assert roles == granted.get(account, set()), account
        if account not in DECLARATION["identities"]:
            assert runs == {n for n, e in DECLARATION["entry_points"].items() if e["account"] == account}, account
