import base64
import json
from datetime import datetime, timezone

import pytest
from cloudevents.http import CloudEvent
from pydantic import ValidationError

from adapters.cloud_run import Scaling
from events.ops_notices import BudgetNotification
from events.schemas import PubSubMessage
from functions import budget_guard
from settings import Settings
from tests.unit.ops_fakes import FakeCloudRun, MemoryOps, RecordingNotifier

NOVEMBER = "2026-11-01T07:00:00Z"
DECEMBER = "2026-12-01T08:00:00Z"


def message(cost, *, interval=NOVEMBER, threshold=None, budget=100.0, **attributes) -> PubSubMessage:
    data = {"budgetDisplayName": "pet-cutout daily", "costAmount": cost, "costIntervalStart": interval,
            "budgetAmount": budget, "budgetAmountType": "SPECIFIED_AMOUNT", "currencyCode": "USD"}
    if threshold is not None:
        data["alertThresholdExceeded"] = threshold
    attrs = {"billingAccountId": "01D4EE-079462-DFD6EC", "budgetId": "de72f49d-779b-4945-a127-4d6ce8def0bb",
             "schemaVersion": "1.0", **attributes}
    return PubSubMessage(data=base64.b64encode(json.dumps(data).encode()).decode(), attributes=attrs, messageId="1")


@pytest.fixture
def world():
    store, cloud_run, notifier = MemoryOps(), FakeCloudRun(scaling=Scaling(1, 5)), RecordingNotifier()

    def send(msg):
        return budget_guard.handle(BudgetNotification.from_message(msg), store=store, cloud_run=cloud_run,
                                   notifier=notifier, settings=Settings())

    return store, cloud_run, notifier, send


def test_a_month_of_notifications_warns_once_enters_once_and_leaves_once(world):
    store, cloud_run, notifier, send = world
    assert send(message(50.0, threshold=0.5)) == ["recorded"]
    outcomes = [send(message(75.0 + i, threshold=0.75)) for i in range(5)]
    assert outcomes == [["warned"], ["recorded"], ["recorded"], ["recorded"], ["recorded"]]
    assert send(message(101.0, threshold=1.0)) == ["emergency_entered"]
    assert cloud_run.current_scaling == budget_guard.emergency_scaling()
    assert store.emergency()["saved_max_instances"] == 5
    assert send(message(102.0, threshold=1.0)) == ["recorded"]
    assert send(message(10.0, interval=DECEMBER)) == ["emergency_left"]
    assert send(message(11.0, interval=DECEMBER)) == ["recorded"]
    assert cloud_run.current_scaling == Scaling(1, 5)
    assert store.emergency() is None
    assert [len(store.kinds(k)) for k in ("budget_warning", "emergency_entered", "emergency_left")] == [1, 1, 1]
    assert len(notifier.texts) == 3 and "75%" in notifier.texts[0]
    assert [c[0] for c in cloud_run.changes] == ["scaling", "scaling"]


def test_a_late_message_of_the_previous_interval_does_not_act(world):
    store, cloud_run, notifier, send = world
    send(message(10.0, interval=DECEMBER))
    assert send(message(120.0, threshold=1.0, interval=NOVEMBER)) == ["stale"]
    assert store.emergency() is None and cloud_run.changes == [] and notifier.texts == []


def test_the_ratio_counts_even_without_a_threshold_field(world):
    store, cloud_run, notifier, send = world
    assert send(message(130.0)) == ["warned", "emergency_entered"]


def test_a_failed_scaling_change_is_retried_by_the_next_delivery(world):
    store, cloud_run, notifier, send = world
    cloud_run.fail_next = True
    with pytest.raises(RuntimeError, match="operation failed"):  # the injected failure, not another error
        send(message(100.0, threshold=1.0))
    assert store.emergency()["saved_max_instances"] == 5  # on, so pre-warm ticks already keep the cap
    assert store.kinds("emergency_entered") == []
    assert send(message(100.0, threshold=1.0)) == ["emergency_entered"]
    assert cloud_run.current_scaling == budget_guard.emergency_scaling()


@pytest.mark.parametrize("broken", [
    {"data": base64.b64encode(b"not json").decode(), "attributes": {}},
    {"data": base64.b64encode(b"[1, 2]").decode(), "attributes": {}},
    message(10.0, budgetId="").model_dump(by_alias=True),
    {**message(10.0).model_dump(by_alias=True), "attributes": {"schemaVersion": "1.0"}},
])
def test_malformed_notifications_are_refused_by_the_schema(broken):
    with pytest.raises((ValidationError, ValueError)):
        BudgetNotification.from_message(PubSubMessage.model_validate(broken))


def test_the_function_acknowledges_a_malformed_notification(monkeypatch):
    import main

    monkeypatch.setattr(main, "operations", lambda: pytest.fail("a malformed notification must not act"))
    envelope = {"subscription": "projects/p/subscriptions/budget-guard",
                "message": {"data": base64.b64encode(b'{"costAmount": "lots"}').decode(), "messageId": "9"}}
    event = CloudEvent({"type": "google.cloud.pubsub.topic.v1.messagePublished", "source": "//pubsub.googleapis.com/"},
                       envelope)
    assert main.budget_guard(event) is None  # returns normally: Pub/Sub gets a 2xx and stops


def test_interval_start_is_parsed_as_utc():
    note = BudgetNotification.from_message(message(1.0))
    assert note.cost_interval_start == datetime(2026, 11, 1, 7, tzinfo=timezone.utc)


def fail_once(target, method, *, after: bool):
    """Make `target.method` raise on its next call, before doing anything or after doing it."""
    real = getattr(target, method)

    def faulty(*args, **kwargs):
        setattr(target, method, real)
        if after:
            real(*args, **kwargs)
        raise ConnectionError(f"injected fault in {method}")

    setattr(target, method, faulty)


@pytest.mark.parametrize("where,method,after", [
    ("store", "emergency", False),
    ("store", "enter_emergency", False),
    ("store", "enter_emergency", True),      # written, but the answer was lost
    ("cloud_run", "scaling", False),
    ("cloud_run", "set_scaling", False),
    ("cloud_run", "set_scaling", True),      # scaled down, then the call failed: the case
    ("store", "record_once", False),         # between scaling down and recording it
    ("store", "record_once", True),
])
def test_a_fault_after_the_claim_lets_the_redelivery_finish_entering_emergency_mode(world, where, method, after):
    store, cloud_run, notifier, send = world
    fail_once(store if where == "store" else cloud_run, method, after=after)
    with pytest.raises(ConnectionError):
        send(message(100.0, threshold=1.0))
    redelivered = send(message(100.0, threshold=1.0))
    assert "emergency_entered" in redelivered
    assert len([t for t in notifier.texts if "Emergency cost mode ON" in t]) == 1
    assert cloud_run.current_scaling == budget_guard.emergency_scaling()
    emergency = store.emergency()
    assert (emergency["saved_min_instances"], emergency["saved_max_instances"]) == (1, 5)  # never the emergency's
    assert len(store.kinds("emergency_entered")) == 1
    assert send(message(101.0, threshold=1.0)) == ["recorded"]  # and later deliveries do nothing
    assert send(message(10.0, interval=DECEMBER)) == ["emergency_left"]
    assert cloud_run.current_scaling == Scaling(1, 5)


def test_the_emergency_cap_comes_from_the_schedules_yaml(world, monkeypatch):
    from dataclasses import replace

    from scheduler import windows

    store, cloud_run, notifier, send = world
    shipped = windows.default_schedule()
    assert budget_guard.emergency_scaling() == Scaling(0, shipped.policy.emergency_max_instances)
    edited = replace(shipped, policy=replace(shipped.policy, emergency_max_instances=1))
    monkeypatch.setattr(windows, "default_schedule", lambda: edited)
    assert send(message(100.0, threshold=1.0)) == ["warned", "emergency_entered"]
    assert cloud_run.current_scaling == Scaling(0, 1)
