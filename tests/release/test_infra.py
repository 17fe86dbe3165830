"""infra/: formatted, scanned, and in agreement with topology.yaml.

Providers cannot be downloaded here, so `terraform validate` is out; what can be
checked offline is: fmt, a static scan (checkov), and the provider-free module that
reads topology.yaml, evaluated by terraform itself and compared with the loader the
local stack uses.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import topology

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TERRAFORM = shutil.which("terraform")
needs_terraform = pytest.mark.skipif(TERRAFORM is None,
                                     reason="terraform is not installed (.ci/install-system adds it)")
TF_ENV = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_CLI_CONFIG_FILE": os.devnull, "CHECKPOINT_DISABLE": "1"}

# The resource types that topology.yaml declares, and the only for_each each may use.
TOPOLOGY_RESOURCES = {
    "google_storage_bucket": "local.buckets",
    "google_pubsub_topic": "toset(local.topology.topics)",
    "google_pubsub_subscription": "local.subscriptions",
}
TOPOLOGY_LOCALS = {
    "buckets": "local.topology.buckets",
    "subscriptions": "{ for s in local.topology.subscriptions : s.name => s }",
}


def _tf_text(directory: Path = INFRA) -> str:
    return "\n".join(p.read_text() for p in sorted(directory.glob("*.tf")))


def _blocks(text: str, kind: str) -> dict[str, str]:
    """`resource "TYPE" "NAME" { ... }` bodies by NAME (fmt-formatted HCL: the block ends at a `}` in column 0)."""
    pattern = re.compile(rf'^resource "{kind}" "([\w-]+)" {{\n(.*?)^}}', re.S | re.M)
    return {m.group(1): m.group(2) for m in pattern.finditer(text)}


def topology_mismatches(text: str) -> list[str]:
    """Ways the Terraform could make a bucket, topic or subscription topology.yaml does not declare, or miss one."""
    problems = []
    for kind, for_each in TOPOLOGY_RESOURCES.items():
        blocks = _blocks(text, kind)
        if list(blocks) != ["topology"]:
            problems.append(f"{kind}: expected only the topology-driven block, found {sorted(blocks)}")
        for name, body in blocks.items():
            found = re.search(r"^\s*for_each\s*=\s*(.+)$", body, re.M)
            if not found or found.group(1).strip() != for_each:
                problems.append(f"{kind}.{name}: for_each must be {for_each}")
    for name, value in TOPOLOGY_LOCALS.items():
        if not re.search(rf"^\s*{name}\s*=\s*{re.escape(value)}\s*$", text, re.M):
            problems.append(f"local.{name} must be {value}")
    return problems


def test_every_bucket_topic_and_subscription_comes_from_topology():
    assert topology_mismatches(_tf_text()) == []


def test_the_check_catches_a_hand_written_topic_and_a_filtered_for_each():
    text = _tf_text()
    extra = text + '\nresource "google_pubsub_topic" "extra" {\n  name = "not-in-topology"\n}\n'
    assert any("google_pubsub_topic" in p for p in topology_mismatches(extra))
    filtered = text.replace("for_each                   = local.subscriptions",
                            "for_each                   = "
                            '{ for k, v in local.subscriptions : k => v if k != "intake" }')
    assert filtered != text
    assert any("google_pubsub_subscription" in p for p in topology_mismatches(filtered))


def test_names_the_terraform_refers_to_are_declared():
    declared = topology.load()
    text = _tf_text()
    topics = set(declared["topics"])
    assert set(re.findall(r'google_pubsub_topic\.topology\["([\w-]+)"\]', text)) <= topics
    assert set(re.findall(r'topic = "([\w-]+)"', text)) <= topics
    assert set(re.findall(r'google_storage_bucket\.topology\["([\w-]+)"\]', text)) <= set(declared["buckets"])
    assert re.search(r'billing_topic\s*=\s*"billing-alerts"', text) and "billing-alerts" in topics


def _terraform(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([TERRAFORM, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120,
                          env=TF_ENV)


@needs_terraform
def test_terraform_fmt_is_clean():
    result = _terraform("fmt", "-check", "-recursive", "-diff", cwd=INFRA)
    assert result.returncode == 0, result.stdout + result.stderr


def topology_output(work: str, output: str, **inputs) -> dict:
    """One output of infra/topology (no provider), evaluated by terraform console with these inputs.

    The root (.local/WORK) sits inside the repository so the module is used in place, by a
    relative source, exactly as infra/topology.tf uses it."""
    root = ROOT / ".local" / work
    root.mkdir(parents=True, exist_ok=True)
    arguments = "".join(f"  {name} = {json.dumps(value)}\n" for name, value in inputs.items())
    (root / "main.tf").write_text(f'module "t" {{\n  source = "../../infra/topology"\n{arguments}}}\n')
    init = _terraform("init", "-input=false", "-backend=false", cwd=root)
    assert init.returncode == 0, init.stderr
    result = _terraform("console", cwd=root, stdin=f"jsonencode(module.t.{output})\n")
    assert result.returncode == 0, result.stderr
    return json.loads(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def evaluate():
    """infra/topology's `topology` output for an env."""
    return lambda env: topology_output("tf-topology", "topology", env=env)


@needs_terraform
@pytest.mark.parametrize("env", [
    {},
    {"GOOGLE_CLOUD_PROJECT": "acme-prod", "UPLOADS_BUCKET": "acme-uploads", "RESULTS_BUCKET": "acme-results",
     "STORE_ORIGINS": "https://shop.example,https://www.shop.example", "GPU_SERVICE": "cutout"},
])
def test_terraform_reads_topology_exactly_as_the_local_stack_does(evaluate, env):
    assert evaluate(env) == topology.load(env=env)


def test_placeholders_are_ones_terraform_can_render():
    # The module turns ${VAR:-default} into ${lookup(env, "VAR", "default")}: a
    # default with a quote or backslash, or a stray template directive, would break it.
    raw = topology.TOPOLOGY_FILE.read_text()
    for default in re.findall(r"\$\{[A-Z0-9_]+:-([^}]*)\}", raw):
        assert '"' not in default and "\\" not in default
    assert "%{" not in raw


def test_dead_letter_path_has_its_iam():
    text = _tf_text()
    publisher = _blocks(text, "google_pubsub_topic_iam_member")["dead_letter_publisher"]
    subscriber = _blocks(text, "google_pubsub_subscription_iam_member")["dead_letter_subscriber"]
    assert 'role     = "roles/pubsub.publisher"' in publisher and "local.pubsub_agent" in publisher
    assert 'role         = "roles/pubsub.subscriber"' in subscriber and "local.pubsub_agent" in subscriber
    assert "gcp-sa-pubsub.iam.gserviceaccount.com" in text


def test_pushes_carry_oidc_tokens_and_follow_topology_retry():
    body = _blocks(_tf_text(), "google_pubsub_subscription")["topology"]
    for needle in ("oidc_token", "ack_deadline_seconds       = each.value.ack_deadline_seconds",
                   "each.value.retry.minimum_backoff_seconds", "each.value.retry.maximum_backoff_seconds",
                   "max_delivery_attempts = dead_letter_policy.value.max_delivery_attempts"):
        assert needle in body


def test_jobs_expire_through_a_firestore_ttl_policy():
    text = _tf_text()
    field = _blocks(text, "google_firestore_field")["job_ttl"]
    assert "ttl_config {}" in field
    assert re.search(r'variable "job_ttl_field" \{[^}]*default\s*=\s*"expire_at"', text, re.S)


def test_budget_thresholds_and_the_declared_alerts_match_the_plan():
    text = _tf_text()
    assert re.search(r"default\s*=\s*\[0\.5, 0\.75, 1\.0\]", text)
    # Alert numbers live in topology.yaml only (tests/release/test_alerts.py checks them against the plan).
    assert not re.search(r'variable "(error_rate_threshold|p95_latency_seconds|cold_start_p99_seconds)"', text)
    alert = _blocks(text, "google_monitoring_alert_policy")["declared"]
    assert "duration            = each.value.duration" in alert
    assert "google_monitoring_notification_channel.rollback" in alert


def test_secrets_are_names_only_and_cover_what_the_functions_mount():
    from deploy.functions import SECRETS

    text = _tf_text()
    assert 'resource "google_secret_manager_secret_version"' not in text  # values are never made here
    declared = set(re.findall(r'^\s*"([\w-]+)"\s*=\s*"', text.split("secrets = {", 1)[1].split("}", 1)[0], re.M))
    mounted = {secret for env in SECRETS.values() for secret in env.values()}
    assert mounted <= declared


def test_public_functions_sit_behind_a_cloud_armor_per_ip_throttle():
    text = _tf_text()
    policy = _blocks(text, "google_compute_security_policy")["edge"]
    throttle = policy.split('action      = "throttle"', 1)[1].split("\n  rule {", 1)[0]
    assert 'enforce_on_key = "IP"' in throttle and 'exceed_action  = "deny(429)"' in throttle
    assert "count        = var.edge_requests_per_minute" in throttle and "interval_sec = 60" in throttle
    # Every backend of the load balancer carries the policy, one per public function of topology.yaml.
    backend = _blocks(text, "google_compute_backend_service")["edge"]
    assert "security_policy       = google_compute_security_policy.edge[0].id" in backend
    assert "for_each              = local.edge_functions" in backend
    assert "if try(spec.public, false)" in text
    neg = _blocks(text, "google_compute_region_network_endpoint_group")["edge"]
    assert 'network_endpoint_type = "SERVERLESS"' in neg and "cloud_run {" in neg


# --- checkov -------------------------------------------------------------------

CHECKOV_VENV = ROOT / ".local" / "checkov"


@pytest.fixture(scope="session")
def checkov() -> str:
    """checkov from its own venv (pinned in infra/requirements-checkov.txt), made on first use."""
    binary = CHECKOV_VENV / "bin" / "checkov"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(CHECKOV_VENV)], check=True)
        subprocess.run([str(CHECKOV_VENV / "bin" / "pip"), "install", "-q", "-r",
                        str(INFRA / "requirements-checkov.txt")], check=True, timeout=900)
    return str(binary)


@pytest.mark.parametrize(("framework", "target"), [("terraform", ["-d", "infra"]),
                                                   ("dockerfile", ["-f", "gpu_service/Dockerfile"])])
def test_checkov_finds_nothing_unexplained(checkov, framework, target):
    result = subprocess.run([checkov, *target, "--framework", framework, "--skip-download", "--quiet", "-o", "json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [f"{c['check_id']} {c['resource']}" for r in reports for c in r["results"].get("failed_checks", [])]
    assert failed == []
    assert sum(r["summary"]["parsing_errors"] for r in reports) == 0
    # Each deliberate exception carries its reason next to it.
    for r in reports:
        for c in r["results"].get("skipped_checks", []):
            assert len(c["check_result"].get("suppress_comment", "").strip()) > 20, c["check_id"]
