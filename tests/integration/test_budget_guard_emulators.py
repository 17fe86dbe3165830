"""Budget notifications in Cloud Billing's format, through Pub/Sub to the budget
guard function, on the Firestore emulator, acting on the local Cloud Run."""

import base64
import json
import time
from datetime import datetime, timezone

import pytest
import requests

from adapters.cloud_run import Scaling
from local_stack.stack import Stack
from tests.e2e.helpers import wait_for
from tests.integration.webhook_recorder import Recorder

pytestmark = pytest.mark.integration
NOVEMBER, DECEMBER, JANUARY = "2026-11-01T07:00:00Z", "2026-12-01T08:00:00Z", "2027-01-01T08:00:00Z"
ATTRIBUTES = {"billingAccountId": "01D4EE-079462-DFD6EC", "budgetId": "de72f49d-779b-4945-a127-4d6ce8def0bb",
              "schemaVersion": "1.0"}


def notification(cost, interval, threshold=None):
    data = {"budgetDisplayName": "pet-cutout daily", "costAmount": cost, "costIntervalStart": interval,
            "budgetAmount": 100.0, "budgetAmountType": "SPECIFIED_AMOUNT", "currencyCode": "USD"}
    if threshold is not None:
        data["alertThresholdExceeded"] = threshold
    return json.dumps(data).encode()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, emulators):
    slack = Recorder()
    # A short backoff so that the fault drills' redeliveries come within seconds.
    with Stack(tmp_path_factory.mktemp("budget"), emulators=emulators,
               env={"SLACK_WEBHOOK_URL": slack.url, "PUSH_MIN_BACKOFF_SECONDS": "1"},
               functions=["budget_guard", "cost_report"], cloud_run=True) as running:
        running.slack = slack
        yield running
    slack.close()


def test_one_warning_one_emergency_one_exit(stack):
    with stack.client_env():
        from google.cloud import firestore, pubsub_v1
        from google.cloud.firestore_v1.base_query import FieldFilter

        from adapters.jobs import FirestoreJobs
        from bootstrap import Operations
        from domain.jobs import Job, State
        from settings import Settings

        settings = Settings()
        ops = Operations(settings)
        db = firestore.Client(project=stack.project)  # jobs
        ops_db = firestore.Client(project=stack.project, database=settings.ops_database)  # the ops log's own database
        publisher = pubsub_v1.PublisherClient()
        topic = publisher.topic_path(stack.project, "billing-alerts")

        def log_count(kind):
            return len(list(ops_db.collection("ops_log").where(filter=FieldFilter("kind", "==", kind)).stream()))

        def spend_cost():
            return (ops.store.latest_spend() or {}).get("cost")

        ops.cloud_run.set_scaling(settings.gpu_service, Scaling(1, 5))
        publish = lambda data: publisher.publish(topic, data, **ATTRIBUTES).result(30)  # noqa: E731
        publish(b"{not json")  # malformed: acknowledged, never retried into the dead-letter topic
        publish(notification(50.0, NOVEMBER, 0.5))
        for i in range(5):
            publish(notification(75.0 + i * 0.1, NOVEMBER, 0.75))
        publish(notification(100.5, NOVEMBER, 1.0))

        wait_for(lambda: log_count("emergency_entered") == 1, 60, message="emergency mode")
        assert ops.cloud_run.scaling(settings.gpu_service) == Scaling(0, 2)  # seen on the local Cloud Run
        assert ops.store.emergency()["saved_max_instances"] == 5
        time.sleep(2)  # let any redelivery or late duplicate land

        publish(notification(10.0, DECEMBER))
        wait_for(lambda: log_count("emergency_left") == 1, 60, message="leaving emergency mode")
        wait_for(lambda: spend_cost() == 10.0, 60, message="December spend")
        time.sleep(2)

        assert [log_count(k) for k in ("budget_warning", "emergency_entered", "emergency_left")] == [1, 1, 1]
        assert ops.cloud_run.scaling(settings.gpu_service) == Scaling(1, 5)
        assert ops.store.emergency() is None
        assert len(stack.slack.texts("75%")) == 1
        assert len(stack.slack.texts("Emergency cost mode ON")) == 1
        assert len(stack.slack.texts("Emergency cost mode OFF")) == 1
        # Two images finished this period (one from the mask cache), one the period before,
        # stored as the pipeline stores them (FirestoreJobs).
        jobs = FirestoreJobs(db, settings.jobs_collection)
        for day in (2, 3):
            done = datetime(2026, 12, day, tzinfo=timezone.utc)
            jobs.create(Job(f"job-dec-{day}", State.DONE, timestamps={"done": done}, cache_hit=day == 3,
                            gpu_seconds_saved=1.5 if day == 3 else 0.0))
        jobs.create(Job("job-nov", State.DONE, timestamps={"done": datetime(2026, 11, 30, tzinfo=timezone.utc)},
                        cache_hit=True, gpu_seconds_saved=9.0))

    report = requests.get(stack.url("cost_report"), timeout=10).json()
    assert report["spend"] == 10.0 and report["interval_start"].startswith("2026-12-01")
    assert report["images_processed"] == 2 and report["cost_per_1000_images"] == 5000.0
    # The mask cache over the same period (one aggregation on the emulator: adapters/jobs.py).
    assert {k: report["cache"][k] for k in ("hits", "misses", "hit_rate", "gpu_seconds_saved")} == {
        "hits": 1, "misses": 1, "hit_rate": 0.5, "gpu_seconds_saved": 1.5}


def test_prewarm_applies_scaling_and_warms_up_through_the_local_cloud_run(stack):
    with stack.client_env():
        from bootstrap import Operations
        from functions import prewarm
        from scheduler.policy import ScalingDecision
        from scheduler.windows import Window
        from settings import Settings

        asked = []

        def peak(now, **inputs):
            asked.append(inputs)
            return ScalingDecision(Window("peak", 1, 4, True), 1, 4, True, "peak window")

        settings = Settings()
        ops = Operations(settings)
        now = datetime.now(timezone.utc)
        tick = lambda: prewarm.handle(now, store=ops.store, jobs=ops.jobs, cloud_run=ops.cloud_run,  # noqa: E731
                                      caller=ops.caller, settings=settings, decide=peak)
        summary = tick()
        assert summary["warmup"] == "ok" and summary["scaling_changed"]
        assert ops.cloud_run.scaling(settings.gpu_service) == Scaling(1, 4)
        assert ops.store.warmups_since(now) == 1
        # The jobs written by the previous test: the newest finished one is what the policy sees.
        assert asked[0]["last_job_finished_at"] == datetime(2026, 12, 3, tzinfo=timezone.utc)

        ops.store.enter_emergency("drill", datetime(2030, 1, 1, tzinfo=timezone.utc), saved_min_instances=1,
                                  saved_max_instances=4)
        summary = tick()
        assert summary["emergency"] and summary["warmup"] == "skipped"
        assert ops.cloud_run.scaling(settings.gpu_service) == Scaling(0, 2)
        assert asked[1]["emergency"] is True and asked[1]["warmups_last_hour"] == 1


def fresh_emergency_state(db):
    """The drills start with emergency mode off (an earlier test may have left a drill's record)."""
    db.collection("ops_state").document("emergency").delete()


def test_a_scale_down_whose_answer_fails_is_finished_by_the_pubsub_redelivery(stack):
    """The fault of issue 11: the GPU service was scaled down, then the call failed. The redelivery
    must leave emergency mode on, with the scaling from before saved, recorded and announced once."""
    budget = {**ATTRIBUTES, "budgetId": "drill-scaling-fault"}
    with stack.client_env():
        from google.cloud import firestore, pubsub_v1
        from google.cloud.firestore_v1.base_query import FieldFilter

        from bootstrap import Operations
        from settings import Settings

        settings = Settings()
        ops = Operations(settings)
        db = firestore.Client(project=stack.project, database=settings.ops_database)  # ops state and log
        fresh_emergency_state(db)
        ops.cloud_run.set_scaling(settings.gpu_service, Scaling(1, 5))
        faults = stack.url("cloud_run") + "/_local/faults"
        requests.post(faults, params={"failing_updates": 1}, timeout=10).raise_for_status()
        publisher = pubsub_v1.PublisherClient()
        publisher.publish(publisher.topic_path(stack.project, "billing-alerts"), notification(130.0, JANUARY, 1.0),
                          **budget).result(30)

        def entered():
            query = db.collection("ops_log").where(filter=FieldFilter("kind", "==", "emergency_entered"))
            return [d.to_dict() for d in query.stream() if d.get("budget_id") == budget["budgetId"]]

        wait_for(lambda: entered(), 90, message="emergency mode recorded")
        time.sleep(3)  # let any further redelivery land
        assert requests.get(faults, timeout=10).json()["failing_updates"] == 0  # the fault did fire
        log = (stack.workdir / "logs" / "fn-budget_guard.log").read_text()
        assert "injected fault" in log  # the first delivery failed on it
        [record] = entered()
        assert (record["saved_min_instances"], record["saved_max_instances"]) == (1, 5)
        state = ops.store.emergency()
        assert state["budget_id"] == budget["budgetId"] and state["saved_max_instances"] == 5
        assert ops.cloud_run.scaling(settings.gpu_service) == Scaling(0, 2)
        assert len([t for t in stack.slack.texts("Emergency cost mode ON") if "130%" in t]) == 1
        fresh_emergency_state(db)


def test_a_fault_between_scaling_down_and_recording_on_the_real_store(stack):
    """The same, with the fault in Firestore (the log entry's write), through the real adapters."""
    with stack.client_env():
        from google.cloud import firestore

        from bootstrap import Operations
        from events.ops_notices import BudgetNotification
        from events.schemas import PubSubMessage
        from functions import budget_guard
        from settings import Settings

        settings = Settings()
        ops = Operations(settings)
        db = firestore.Client(project=stack.project, database=settings.ops_database)  # ops state and log
        fresh_emergency_state(db)
        ops.cloud_run.set_scaling(settings.gpu_service, Scaling(1, 4))
        store = ops.store
        real = store.record_once

        def fails_once(key, kind, **fields):
            if kind != "emergency_entered":  # the 75 % warning before it goes through
                return real(key, kind, **fields)
            store.record_once = real
            raise ConnectionError("injected fault: Firestore unavailable")

        store.record_once = fails_once
        budget = {**ATTRIBUTES, "budgetId": "drill-store-fault"}
        message = PubSubMessage(data=base64.b64encode(notification(140.0, JANUARY, 1.0)).decode(),
                                attributes=budget, messageId="drill")

        def deliver():
            return budget_guard.handle(BudgetNotification.from_message(message), store=store,
                                       cloud_run=ops.cloud_run, notifier=ops.notifier, settings=settings)

        with pytest.raises(ConnectionError):
            deliver()
        assert ops.cloud_run.scaling(settings.gpu_service) == Scaling(0, 2)  # scaled down before the fault
        assert "emergency_entered" in deliver()  # the redelivery
        assert deliver() == ["recorded"]  # and any later one does nothing
        entries = [d.to_dict() for d in db.collection("ops_log").stream()
                   if d.get("kind") == "emergency_entered" and d.get("budget_id") == budget["budgetId"]]
        assert len(entries) == 1 and entries[0]["saved_max_instances"] == 4
        assert ops.store.emergency()["saved_max_instances"] == 4
        fresh_emergency_state(db)
