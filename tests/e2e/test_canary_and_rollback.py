"""Canary roll-outs and the rollback drill on the local stack.

Revisions are real GPU-service processes behind the local Cloud Run; the canary
is the real CLI (`python -m deploy.canary`), the rollback is the real function
(functions-framework) called by a local alert policy with Cloud Monitoring's
payload. Shopper traffic is Pub/Sub-style push requests to the service URL.

A bad revision is a realistic mistake, not a fault flag: it is deployed with a
results bucket that does not exist, so it passes its smoke test (the model runs)
but every real job fails with a 5xx when it writes its cut-out.
"""

import base64
import json
import os
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

from adapters.cloud_run import TrafficEntry
from deploy.canary import smoke_image
from local_stack.alerts import AlertPolicy, Condition
from local_stack.stack import ROOT, Stack
from tests.integration.webhook_recorder import Recorder

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # about a minute and a half in all
TOKEN = "drill-" + uuid.uuid4().hex
USER = "cloud-monitoring"  # as infra/monitoring.tf's webhook_basicauth channel
BAD_ENV = "RESULTS_BUCKET=pet-results-typo"


class Shoppers:
    """Push requests for fresh jobs, four at a time, recording (time, status)."""

    def __init__(self, url: str, bucket: str, generation: int):
        self.url, self.bucket, self.generation = url + "/pubsub/segment", bucket, generation
        self.outcomes: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(4)]

    def push(self) -> int:
        job = {"job_id": uuid.uuid4().hex, "bucket": self.bucket, "object": "uploads/drill.jpg",
               "generation": str(self.generation), "content_type": "image/jpeg"}
        envelope = {"subscription": "projects/demo-proj/subscriptions/segment",
                    "message": {"data": base64.b64encode(json.dumps(job).encode()).decode(),
                                "messageId": uuid.uuid4().hex, "attributes": {}}}
        status = requests.post(self.url, json=envelope, timeout=60).status_code
        self.outcomes.append((time.time(), status))
        return status

    def _run(self):
        while not self._stop.is_set():
            self.push()

    def start(self):
        for thread in self._threads:
            thread.start()

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    slack = Recorder()
    env = {"ROLLBACK_WEBHOOK_USER": USER, "ROLLBACK_WEBHOOK_PASSWORD": TOKEN, "SLACK_WEBHOOK_URL": slack.url,
           "ROLLBACK_WINDOW_SECONDS": "600"}
    with Stack(tmp_path_factory.mktemp("rollout"), env=env, functions=["rollback"], cloud_run=True) as running:
        with running.client_env():
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage

            from bootstrap import Ops
            from settings import Settings

            blob = storage.Client(project=running.project, credentials=AnonymousCredentials()) \
                .bucket(running.env["UPLOADS_BUCKET"]).blob("uploads/drill.jpg")
            blob.upload_from_string(smoke_image(), content_type="image/jpeg")
            running.ops = Ops(Settings())
            running.slack = slack
            running.shoppers = Shoppers(running.url("gpu"), running.env["UPLOADS_BUCKET"], blob.generation)
            running.shoppers.start()
            try:
                yield running
            finally:
                running.shoppers.stop()
    slack.close()


def canary(stack, tag, *args, gate=3, background=False):
    argv = [sys.executable, "-m", "deploy.canary", "--project", stack.project, "--region", "us-central1",
            "--service", "pet-cutout-gpu", "--image", f"local/gpu-service:{tag}", "--tag", tag,
            "--gate-seconds", str(gate), *args]
    env = {**os.environ, **stack.env, "PYTHONPATH": str(ROOT)}
    if background:
        return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)


def traffic(stack):
    return stack.ops.cloud_run.traffic("pet-cutout-gpu")


def serving(stack):
    return {e.revision: e.percent for e in traffic(stack) if e.percent}


def test_a_good_revision_reaches_100_percent_and_becomes_known_good(stack):
    done = canary(stack, "good")
    assert done.returncode == 0, done.stdout + done.stderr
    [(revision, percent)] = serving(stack).items()
    assert percent == 100 and revision.startswith("pet-cutout-gpu-good-")
    assert stack.ops.store.known_good("pet-cutout-gpu") == revision
    assert "rolled out; known-good" in done.stdout
    recent = [at for at, _ in stack.shoppers.outcomes if at > time.time() - 10]
    print(f"\nshopper load: {len(recent) / 10:.1f} requests/s")


def test_a_bad_revision_is_reverted_at_the_first_gate(stack):
    before = serving(stack)
    done = canary(stack, "bad", "--env", BAD_ENV, "--min-requests", "1", gate=10)
    assert done.returncode == 1
    assert "smoke test passed" in done.stdout  # the model runs; only real jobs fail
    assert "gate at 10%: error rate" in done.stdout, done.stdout[-2000:]
    assert serving(stack) == before
    assert stack.ops.store.known_good("pet-cutout-gpu") in before


def test_rollback_drill(stack):
    good = stack.ops.store.known_good("pet-cutout-gpu")
    condition = Condition.from_topology(stack.topology, "gpu-error-rate", window_seconds=10, min_requests=1)
    time.sleep(condition.window_seconds)  # earlier tests' errors age out of the window
    policy = AlertPolicy(stack.url("cloud_run") + "/_local/stats", f"{stack.url('rollback')}/", condition,
                         project=stack.project, region="us-central1", service="pet-cutout-gpu",
                         auth=(USER, TOKEN)).start()
    try:
        deployed_at = time.time()
        deploy = canary(stack, "drill", "--env", BAD_ENV, gate=60, background=True)
        deadline = time.monotonic() + 90
        while not policy.history and time.monotonic() < deadline:
            time.sleep(0.05)
        assert policy.history, "the alert never fired"
        incident = policy.history[0]
        assert incident.revision.startswith("pet-cutout-gpu-drill-")
        while serving(stack) != {good: 100}:
            assert time.monotonic() < deadline, f"traffic not restored: {serving(stack)}"
            time.sleep(0.02)
        restored_at = time.time()
        output, _ = deploy.communicate(timeout=60)
    finally:
        policy.stop()
    seconds = restored_at - incident.started_at
    print(f"\nrollback drill: canary started -> alert {incident.started_at - deployed_at:.1f}s "
          f"(deploy, smoke test, 10% of traffic, {condition.window_seconds:.0f}s window); "
          f"alert -> traffic restored to {good} in {seconds:.2f}s (webhook answered {incident.deliveries[0]})")
    assert incident.deliveries[0] == 200 and seconds < 10
    assert deploy.returncode == 1 and "changed by someone else" in output  # the canary stood down, untouched
    assert serving(stack) == {good: 100}

    stack.shoppers.stop()  # requests succeed again
    assert [stack.shoppers.push() for _ in range(10)] == [204] * 10
    late = [status for at, status in stack.shoppers.outcomes if at > restored_at + 1.0]
    assert late and all(status < 500 for status in late)

    rollbacks = lambda: [r for r in _log(stack, "rollback") if r["incident_id"] == incident.incident_id]  # noqa: E731
    assert len(rollbacks()) == 1
    incident.state = "open"  # Cloud Monitoring delivers the same incident again
    assert policy.deliver(incident) == 200
    assert len(rollbacks()) == 1 and serving(stack) == {good: 100}
    assert len(stack.slack.texts(f"incident {incident.incident_id}")) == 1

    # A forged webhook never acts, even when there would be something to roll back.
    drill = incident.revision
    stack.ops.cloud_run.set_traffic("pet-cutout-gpu", [TrafficEntry(good, 50), TrafficEntry(drill, 50, "drill")])
    # Basic auth kept the secret out of every log, the server's request log included.
    for log in (stack.workdir / "logs").glob("*.log"):
        assert TOKEN not in log.read_text(errors="replace"), log.name
    # The real secret in the URL is refused too: URLs end up in request logs.
    forged = AlertPolicy("", stack.url("rollback") + f"/?auth_token={TOKEN}", condition, project=stack.project,
                         region="us-central1", service="pet-cutout-gpu")
    from local_stack.alerts import Incident

    fake = Incident("0.forged", drill, time.time(), 1.0)
    assert forged.deliver(fake) == 401
    forged.webhook_url, forged.auth = stack.url("rollback") + "/", (USER, "guess")
    assert forged.deliver(fake) == 403
    forged.auth = None
    assert forged.deliver(fake) == 401
    assert serving(stack) == {good: 50, drill: 50}
    assert not [r for r in _log(stack, "rollback") if r["incident_id"] == "0.forged"]
    stack.ops.cloud_run.set_traffic("pet-cutout-gpu", [TrafficEntry(good, 100)])


def _log(stack, kind):
    with stack.client_env():
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        from settings import Settings

        ops_db = firestore.Client(project=stack.project, database=Settings().ops_database)
        query = ops_db.collection("ops_log").where(
            filter=FieldFilter("kind", "==", kind))
        return [snap.to_dict() for snap in query.stream()]
