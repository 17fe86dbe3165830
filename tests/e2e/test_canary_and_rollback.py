"""Canary roll-outs and the rollback drills on the local stack.

Revisions are real GPU-service processes behind the local Cloud Run; the canary
is the real CLI (`python -m deploy.canary`), the rollback is the real function
(functions-framework) called by the local evaluator of every declared alert
condition (local_stack/alerts.py) with Cloud Monitoring's payload. Shopper traffic
is Pub/Sub-style push requests to the service URL.

Each of the plan's four rollback criteria has a drill, with durations scaled by
ALERT_TIME_SCALE and the declared thresholds unchanged; each bad revision passes
its smoke test and fails only on real jobs:
- error rate: a results bucket that does not exist (every job's upload fails, 5xx);
- processing time: a batch wait typed in ms as seconds (jobs wait up to 40 s: mean > 15 s);
- memory pressure: a 720Mi memory limit that a 12 MP photo exceeds (the kernel
  kills the instance; the router answers 503, as Cloud Run does);
- cold start: a model load slower than 45 s (MODEL_LOAD_DELAY_SECONDS).
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
from local_stack.alerts import Evaluator, Incident
from local_stack.stack import ROOT, Stack
from processes import patched_environ
from tests.integration.webhook_recorder import Recorder

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # several minutes: one cold start alone takes 50 s
TOKEN = "drill-" + uuid.uuid4().hex
USER = "cloud-monitoring"  # as infra/monitoring.tf's webhook_basicauth channel
BAD_ENV = "RESULTS_BUCKET=pet-results-typo"
SCALE = 0.02  # ALERT_TIME_SCALE: 5 minutes -> 6 s, 2 minutes -> 2.4 s
SERVICE = "pet-cutout-gpu"
RESTORE_TIMES: dict[str, float] = {}


def big_photo() -> bytes:
    """A 12 MP phone photo (4000x3000), smooth enough to encode quickly."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (4000, 3000), (200, 190, 170))
    ImageDraw.Draw(image).ellipse((1000, 750, 3000, 2250), fill=(120, 80, 40))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


class Shoppers:
    """Push requests for fresh jobs, four at a time, recording (time, status)."""

    SMALL, BIG = "uploads/drill.jpg", "uploads/drill-12mp.jpg"

    def __init__(self, url: str, bucket: str, photos: dict[str, int]):
        self.url, self.bucket = url + "/pubsub/segment", bucket
        self.photos = photos  # object -> generation
        self.outcomes: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._big = threading.Event()

    def push(self, name: str = SMALL) -> int:
        job = {"job_id": uuid.uuid4().hex, "bucket": self.bucket, "object": name,
               "generation": str(self.photos[name]), "content_type": "image/jpeg"}
        envelope = {"subscription": "projects/demo-proj/subscriptions/segment",
                    "message": {"data": base64.b64encode(json.dumps(job).encode()).decode(),
                                "messageId": uuid.uuid4().hex, "attributes": {}}}
        status = requests.post(self.url, json=envelope, timeout=120).status_code
        self.outcomes.append((time.time(), status))
        return status

    def _run(self):
        while not self._stop.is_set():
            self.push()

    def _run_big(self):
        while not self._big.is_set():
            self.push(self.BIG)

    def start(self):
        self._stop.clear()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(4)]
        for thread in self._threads:
            thread.start()

    def big_photos(self) -> threading.Thread:
        """One more shopper, sending 12 MP phone photos one after another, until big_photos_end()."""
        self._big.clear()
        thread = threading.Thread(target=self._run_big, daemon=True)
        thread.start()
        return thread

    def big_photos_end(self, thread: threading.Thread) -> None:
        self._big.set()
        thread.join(120)

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(60)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, emulators):
    slack = Recorder()
    # One rollback per window: short here, as four drills follow one another.
    env = {"ROLLBACK_WEBHOOK_USER": USER, "ROLLBACK_WEBHOOK_PASSWORD": TOKEN, "SLACK_WEBHOOK_URL": slack.url,
           "ROLLBACK_WINDOW_SECONDS": "2", "ALERT_TIME_SCALE": str(SCALE)}
    with Stack(tmp_path_factory.mktemp("rollout"), emulators=emulators,
               env=env, functions=["rollback"], cloud_run=True) as running:
        with running.client_env():
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage

            from bootstrap import Operations
            from settings import Settings

            bucket = storage.Client(project=running.project, credentials=AnonymousCredentials()) \
                .bucket(running.env["UPLOADS_BUCKET"])
            photos = {}
            for name, data in (("uploads/drill.jpg", smoke_image()), ("uploads/drill-12mp.jpg", big_photo())):
                blob = bucket.blob(name)
                blob.upload_from_string(data, content_type="image/jpeg")
                photos[name] = blob.generation
            running.ops = Operations(Settings())
            running.slack = slack
            running.evaluators = []
            running.shoppers = Shoppers(running.url("gpu"), running.env["UPLOADS_BUCKET"], photos)
            running.shoppers.start()
            try:
                yield running
            finally:
                running.shoppers.stop()
                for evaluator in running.evaluators:
                    evaluator.stop()
    slack.close()
    if RESTORE_TIMES:
        print("\ncondition holding -> traffic restored, per rollback criterion: " +
              ", ".join(f"{name} {seconds:.2f}s" for name, seconds in RESTORE_TIMES.items()))


def evaluator(stack) -> Evaluator:
    """Every declared condition with a local reading, on the local Cloud Run, durations scaled."""
    from settings import Settings

    with patched_environ(stack.extra_env):  # the stack's settings: ALERT_TIME_SCALE
        scale = Settings().alert_time_scale
    assert scale == SCALE
    found = Evaluator(stack.url("cloud_run"), f"{stack.url('rollback')}/", stack.topology, project=stack.project,
                      region="us-central1", service=SERVICE, scale=scale, auth=(USER, TOKEN))
    stack.evaluators.append(found)
    return found


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
    watching = evaluator(stack).start()  # every condition, while the good revision rolls out
    done = canary(stack, "good")
    watching.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    # No rollback condition met (a warning such as p95 > 5 s can be, on two shared CPU cores).
    rollback_names = {c.name for c in watching.conditions if c.rollback}
    assert [i.policy for i in watching.history if i.policy in rollback_names] == []
    assert not _log(stack, "rollback")
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
    assert "gate at 10%: gpu-error-rate" in done.stdout, done.stdout[-2000:]
    assert serving(stack) == before
    assert stack.ops.store.known_good("pet-cutout-gpu") in before


def _drill(stack, criterion: str, tag: str, *args: str, gate: int = 120) -> tuple[Incident, str]:
    """Deploy a bad revision through the canary while every condition is evaluated; the
    criterion's incident must roll it back once, to the known-good revision.

    A new revision starts from the service's template, which is the last deployed
    revision's even after a rollback (as on Cloud Run): each drill first undoes the
    previous drills' mistakes, then makes its own."""
    undo = ["--env", f"RESULTS_BUCKET={stack.env['RESULTS_BUCKET']}", "--env", "BATCH_MAX_WAIT_MS=5",
            "--env", "MODEL_LOAD_DELAY_SECONDS=0", "--memory", "4Gi"]
    args = (*undo, *args)
    good = stack.ops.store.known_good(SERVICE)
    assert serving(stack) == {good: 100}
    time.sleep(7)  # earlier drills' requests age out of the rollback conditions' windows (6 s)
    watching = evaluator(stack).start()
    try:
        deployed_at = time.time()
        deploy = canary(stack, tag, *args, gate=gate, background=True)
        deadline = time.monotonic() + 240
        ours = lambda: [i for i in watching.history  # noqa: E731
                        if i.policy == criterion and i.revision.startswith(f"pet-cutout-gpu-{tag}-")]
        while not ours() and time.monotonic() < deadline:
            if deploy.poll() is not None:
                pytest.fail(f"the canary ended first: {[(i.policy, i.revision[15:]) for i in watching.history]} "
                            f"{[i.summary for i in watching.history if i.revision.startswith('pet-cutout-gpu-' + tag)]}"
                            f" {watching.errors} {deploy.communicate()[0][-1500:]}")
            time.sleep(0.05)
        [incident] = ours()
        while serving(stack) != {good: 100}:
            assert time.monotonic() < deadline, f"traffic not restored: {serving(stack)}"
            time.sleep(0.02)
        restored_at = time.time()
        output, _ = deploy.communicate(timeout=120)
    finally:
        watching.stop()
    seconds = restored_at - incident.started_at
    RESTORE_TIMES[criterion] = seconds
    print(f"\n{criterion}: canary started -> condition holding {incident.started_at - deployed_at:.1f}s; "
          f"condition holding -> traffic restored to {good} in {seconds:.2f}s "
          f"(webhook answered {incident.deliveries[0]}; {incident.summary})")
    assert incident.deliveries[0] == 200 and seconds < 10
    assert deploy.returncode == 1 and "changed by someone else" in output  # the canary stood down, untouched
    assert serving(stack) == {good: 100} and stack.ops.store.known_good(SERVICE) == good
    # Once per incident: one rollback for the drill, whatever else fired for the bad revision;
    # the same incident delivered again changes nothing.
    drills = [r for r in _log(stack, "rollback") if r["revision"] == good and r["incident_id"] in
              {i.incident_id for i in watching.history}]
    assert [r["policy"] for r in drills] == [criterion], drills
    incident.state = "open"
    assert watching.deliver(incident) == 200
    assert len([r for r in _log(stack, "rollback") if r["incident_id"] == incident.incident_id]) == 1
    assert len(stack.slack.texts(f"incident {incident.incident_id}")) == 1
    # The good revision never met a rollback condition.
    rollback_names = {c.name for c in watching.conditions if c.rollback}
    assert [i.policy for i in watching.history if i.revision == good and i.policy in rollback_names] == []
    return incident, good


def test_rollback_drill_error_rate(stack):
    incident, good = _drill(stack, "gpu-error-rate", "drill", "--env", BAD_ENV)
    restored_at = time.time()
    stack.shoppers.stop()  # requests succeed again
    assert [stack.shoppers.push() for _ in range(10)] == [204] * 10
    late = [status for at, status in stack.shoppers.outcomes if at > restored_at + 1.0]
    assert late and all(status < 500 for status in late)

    # A forged webhook never acts, even when there would be something to roll back.
    drill = incident.revision
    stack.ops.cloud_run.set_traffic("pet-cutout-gpu", [TrafficEntry(good, 50), TrafficEntry(drill, 50, "drill")])
    # Basic auth kept the secret out of every log, the server's request log included.
    for log in (stack.workdir / "logs").glob("*.log"):
        assert TOKEN not in log.read_text(errors="replace"), log.name
    # The real secret in the URL is refused too: URLs end up in request logs.
    forged = evaluator(stack)
    forged.webhook_url, forged.auth = stack.url("rollback") + f"/?auth_token={TOKEN}", None
    fake = Incident("0.forged", drill, time.time(), 1.0, policy="gpu-error-rate")
    assert forged.deliver(fake) == 401
    forged.webhook_url, forged.auth = stack.url("rollback") + "/", (USER, "guess")
    assert forged.deliver(fake) == 403
    forged.auth = None
    assert forged.deliver(fake) == 401
    assert serving(stack) == {good: 50, drill: 50}
    assert not [r for r in _log(stack, "rollback") if r["incident_id"] == "0.forged"]
    stack.ops.cloud_run.set_traffic("pet-cutout-gpu", [TrafficEntry(good, 100)])
    stack.shoppers.start()


def test_rollback_drill_processing_time(stack):
    # The batcher's wait typed as 40 s: the model runs, each job waits up to 40 s for company
    # (jobs that join a waiting batch wait less; the mean is still over 15 s).
    _drill(stack, "gpu-processing-time", "slow", "--env", "BATCH_MAX_WAIT_MS=40000")


def test_rollback_drill_memory_pressure(stack):
    # One shopper sends 12 MP phone photos, which a 720Mi instance cannot hold (the smoke
    # test's photo fits); at 50 % the bad revision meets one within a few pushes.
    big = stack.shoppers.big_photos()
    try:
        _drill(stack, "gpu-memory-503", "small", "--memory", "720Mi", "--steps", "50,100")
    finally:
        stack.shoppers.big_photos_end(big)


def test_rollback_drill_slow_cold_start(stack):
    _drill(stack, "gpu-slow-cold-start", "cold", "--env", "MODEL_LOAD_DELAY_SECONDS=50")


def _log(stack, kind):
    with stack.client_env():
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        from settings import Settings

        ops_db = firestore.Client(project=stack.project, database=Settings().ops_database)
        query = ops_db.collection("ops_log").where(
            filter=FieldFilter("kind", "==", kind))
        return [snap.to_dict() for snap in query.stream()]
