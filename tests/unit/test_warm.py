"""The public warm-up on a shopper's intent: the policy (the scheduler's own rules and
state), the recorded outcome, the published request, and the HTTP edge (CORS, a tiny
strict body, rate limits). Fakes only; the browser test drives the real path."""

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from domain.jobs import Job, State
from functions import warm
from scheduler.policy import decide_intent
from scheduler.windows import parse_schedule
from settings import Settings
from tests.fakes import FakeJobs, FakePublisher
from tests.fakes_web import FakeAdapters, MemoryRateLimits, function_client
from tests.unit.ops_fakes import MemoryOps

# 10:00 in New York on an ordinary November day: the shipped schedule's business window.
BUSINESS = datetime(2026, 11, 3, 15, 0, tzinfo=timezone.utc)
NIGHT = datetime(2026, 11, 3, 7, 0, tzinfo=timezone.utc)  # 02:00 in New York: "off"
STORE = "http://127.0.0.1:8000"


@pytest.fixture
def jobs():
    return FakeJobs()


@pytest.fixture
def world(jobs):
    store, publisher = MemoryOps(), FakePublisher()

    def intent(at=BUSINESS, **kw):
        return warm.handle(at, store=store, jobs=jobs, publisher=publisher, settings=Settings(), **kw)

    return store, publisher, intent


def test_a_first_intent_in_business_hours_is_sent_and_recorded(world):
    store, publisher, intent = world
    assert intent()["outcome"] == "sent"
    assert [(t, json.loads(d), a) for t, d, a in publisher.messages] == [
        ("warm-requests", {"requested_at": BUSINESS.isoformat()}, {"source": "intent"})]
    assert store.warmups == [BUSINESS]  # the same state the scheduler's ticks count
    assert store.kinds("warm_intent") == [{"kind": "warm_intent", "outcome": "sent", "window": "business",
                                           "reason": "window business wants a warm instance"}]


def test_another_shopper_within_the_warm_window_is_skipped_and_later_one_is_sent(world):
    store, publisher, intent = world
    intent()
    second = intent(BUSINESS + timedelta(minutes=9, seconds=59))
    assert second["outcome"] == "skipped" and "already warm" in second["reason"]
    assert intent(BUSINESS + timedelta(minutes=10))["outcome"] == "sent"
    assert len(publisher.messages) == 2


def test_a_tick_s_warm_up_counts_as_well(world):
    store, publisher, intent = world
    store.record_warmup(BUSINESS - timedelta(minutes=4))  # the scheduler's ping
    assert intent()["outcome"] == "skipped" and not publisher.messages


def test_the_hourly_cap_counts_every_warm_up(world):
    store, publisher, intent = world
    for minute in range(11, 31):  # 20 in the last hour, none in the last 10 minutes
        store.record_warmup(BUSINESS - timedelta(minutes=minute))
    skipped = intent()
    assert skipped["outcome"] == "skipped" and "cap reached (20 an hour)" in skipped["reason"]
    store.warmups.remove(BUSINESS - timedelta(minutes=30))
    assert intent()["outcome"] == "sent"  # the 20th of the hour


def test_a_job_that_finished_in_the_last_ten_minutes_means_warm(world, jobs):
    store, publisher, intent = world
    jobs.create(Job("done", State.DONE, timestamps={"done": BUSINESS - timedelta(minutes=3)}))
    assert "a job finished" in intent()["reason"] and not publisher.messages


@pytest.mark.parametrize("why, setup, reason", [
    ("outside business hours", lambda s: None, "window off has no warm-ups"),
    ("emergency", lambda s: s.enter_emergency("b", BUSINESS, saved=1), "emergency cost mode"),
    ("budget spent", lambda s: s.record_spend("b", BUSINESS, cost=100.0, fraction=1.02), "budget spent"),
])
def test_no_warm_up_outside_hours_in_emergency_or_with_the_budget_spent(world, why, setup, reason):
    store, publisher, intent = world
    setup(store)
    summary = intent(NIGHT if why == "outside business hours" else BUSINESS)
    assert summary["outcome"] == "skipped" and reason in summary["reason"], summary
    assert store.kinds("warm_intent")[0]["reason"] == summary["reason"]
    assert not publisher.messages and not store.warmups


def test_two_shoppers_deciding_at_once_send_one_warm_up(world):
    store, publisher, intent = world
    store.claims[f"intent-warmup:{BUSINESS.timestamp() // 600:.0f}"] = {}  # the other instance took the slot
    assert intent()["outcome"] == "skipped" and not publisher.messages


def test_a_failed_publish_is_recorded_and_dropped(world, jobs):
    store, _, _ = world

    class Down(FakePublisher):
        def publish(self, topic, data, **attributes):
            raise TimeoutError("pubsub unavailable")

    summary = warm.handle(BUSINESS, store=store, jobs=jobs, publisher=Down(), settings=Settings())
    assert summary["outcome"] == "failed" and not store.warmups
    assert store.kinds("warm_intent")[0]["outcome"] == "failed"


def test_decide_intent_keeps_every_rule_of_the_tick():
    s = parse_schedule({"windows": [{"name": "w", "min_instances": 0, "max_instances": 4, "warmup": True}],
                        "policy": {"warm_for_minutes": 2, "max_warmups_per_hour": 3}})
    base = dict(last_job_finished_at=None, last_warmup_at=None, warmups_last_hour=0, emergency=False,
                budget_spent=False, schedule=s)
    assert decide_intent(BUSINESS, **base).warmup
    assert not decide_intent(BUSINESS, **{**base, "warmups_last_hour": 3}).warmup
    assert not decide_intent(BUSINESS, **{**base, "last_warmup_at": BUSINESS - timedelta(minutes=1)}).warmup
    assert decide_intent(BUSINESS, **{**base, "last_warmup_at": BUSINESS - timedelta(minutes=2)}).warmup
    emergency = decide_intent(BUSINESS, **{**base, "emergency": True})
    assert not emergency.warmup and emergency.max_instances == 2


# --- the HTTP edge -------------------------------------------------------------

@pytest.fixture
def client():
    fakes = FakeAdapters(settings=Settings(store_origins=STORE, trusted_proxy_hops=1, rate_limit_burst=3,
                                           rate_limit_ip_per_minute=3, schedules_file=""))
    client = function_client("warm", fakes, MemoryRateLimits())
    client.store = MemoryOps()
    client.main_module.operations = lambda: SimpleNamespace(store=client.store)
    return client


def call(client, body=None, ip="203.0.113.9", **headers):
    headers = {"Content-Type": "application/json", "X-Forwarded-For": ip, "Origin": STORE, **headers}
    return client.post("/", data=json.dumps(body if body is not None else {}), headers=headers)


def test_the_store_gets_202_with_cors_and_only_the_outcome(client):
    response = call(client, {"trigger": "upload_control"})
    assert response.status_code == 202 and response.headers["Access-Control-Allow-Origin"] == STORE
    assert set(response.get_json()) == {"outcome"}
    assert len(client.store.kinds("warm_intent")) == 1


def test_a_foreign_origin_is_refused_by_cors(client):
    response = call(client, Origin="http://evil.test")
    assert response.status_code == 403 and "Access-Control-Allow-Origin" not in response.headers
    preflight = client.options("/", headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 403 and "Access-Control-Allow-Origin" not in preflight.headers
    assert not client.store.log


@pytest.mark.parametrize("body, status", [
    ({"session_id": "x", "extra": 1}, 400), ({"trigger": "hover-bot"}, 400), ({"session_id": "<script>"}, 400),
    ([], 400), ("x" * 5000, 413),
])
def test_anything_but_the_tiny_body_is_refused(client, body, status):
    assert call(client, body).status_code == status
    assert not client.store.log


def test_a_flood_from_one_address_gets_429_with_retry_after(client):
    answers = [call(client) for _ in range(5)]
    assert [a.status_code for a in answers[:3]] == [202] * 3
    assert answers[3].status_code == 429 and int(answers[3].headers["Retry-After"]) >= 1
    assert answers[3].headers["Access-Control-Allow-Origin"] == STORE  # the widget may read it
    assert call(client, ip="198.51.100.1").status_code == 202  # another address is not held back
