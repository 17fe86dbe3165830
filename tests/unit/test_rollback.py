import base64
import logging
from datetime import timedelta

import pytest

from adapters.cloud_run import TrafficEntry
from events.ops_notices import MonitoringNotification
from functions import rollback
from settings import Settings
from tests.unit.ops_fakes import FakeCloudRun, MemoryOps, RecordingNotifier, now

GOOD, BAD = "pet-cutout-gpu-00001-aaa", "pet-cutout-gpu-canary-bbb"
SETTINGS = Settings(rollback_webhook_user="monitoring", rollback_webhook_password="pa55word",
                    rollback_window_seconds=600)


def incident(incident_id="0.abc", state="open", policy="gpu-error-rate", service="pet-cutout-gpu"):
    return MonitoringNotification.model_validate({"version": "1.2", "incident": {
        "incident_id": incident_id, "state": state, "policy_name": policy, "condition_name": "5xx ratio",
        "started_at": 1795000000, "ended_at": None, "summary": "error rate above 5%",
        "resource": {"type": "cloud_run_revision", "labels": {"service_name": service, "revision_name": BAD}}}})


@pytest.fixture
def world():
    store = MemoryOps()
    store.set_known_good("pet-cutout-gpu", GOOD)
    cloud_run = FakeCloudRun([TrafficEntry(GOOD, 90), TrafficEntry(BAD, 10, "canary")])
    notifier = RecordingNotifier()

    def deliver(note, at=None):
        return rollback.handle(note, store=store, cloud_run=cloud_run, notifier=notifier, settings=SETTINGS,
                               now=at or now())

    return store, cloud_run, notifier, deliver


def basic(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("headers, args, expected", [
    (basic("monitoring", "pa55word"), {}, None),
    ({}, {}, 401),
    # A secret in the URL is refused, right or wrong, even beside good basic auth.
    ({}, {"auth_token": "pa55word"}, 401),
    ({}, {"auth_token": ""}, 401),
    (basic("monitoring", "pa55word"), {"auth_token": "pa55word"}, 401),
    (basic("monitoring", "wrong"), {}, 403),
    (basic("monitoring", "pa55word\n"), {}, 403),  # a stored trailing newline does not match
    ({"Authorization": "Basic !!!not-base64"}, {}, 403),
    ({"Authorization": "Bearer s3cret-token"}, {}, 403),
])
def test_authentication(headers, args, expected):
    assert rollback.authenticate(headers, args, SETTINGS) == expected


def test_nothing_configured_refuses_everyone():
    assert rollback.authenticate({}, {}, Settings()) == 401
    assert rollback.authenticate(basic("", ""), {}, Settings()) == 403


def test_an_open_incident_moves_all_traffic_to_the_known_good_revision(world):
    store, cloud_run, notifier, deliver = world
    answer = deliver(incident())
    assert (answer.status, answer.outcome, answer.detail) == (200, "rolled_back", GOOD)
    assert cloud_run.split == [TrafficEntry(GOOD, 100), TrafficEntry(BAD, 0, "canary")]
    assert len(store.kinds("rollback")) == 1 and GOOD in notifier.texts[0]


def test_the_same_incident_twice_acts_once(world):
    store, cloud_run, notifier, deliver = world
    assert deliver(incident()).outcome == "rolled_back"
    assert deliver(incident()).outcome == "duplicate"
    assert len(cloud_run.changes) == 1 and len(notifier.texts) == 1


def test_a_closed_incident_never_acts(world):
    store, cloud_run, notifier, deliver = world
    assert deliver(incident(state="closed")).outcome == "ignored_closed"
    assert cloud_run.changes == [] and store.kinds("rollback_ignored")


def test_other_policies_and_services_do_not_act(world):
    store, cloud_run, notifier, deliver = world
    assert deliver(incident(policy="disk-full")).outcome == "ignored_policy"
    assert deliver(incident("0.x", service="storefront")).outcome == "ignored_policy"
    assert cloud_run.changes == []


def test_at_most_one_rollback_per_window(world):
    store, cloud_run, notifier, deliver = world
    start = now()
    assert deliver(incident("0.one"), start).outcome == "rolled_back"
    cloud_run.split = [TrafficEntry(GOOD, 50), TrafficEntry(BAD, 50, "canary")]  # someone shifts again
    assert deliver(incident("0.two"), start + timedelta(seconds=60)).outcome == "suppressed"
    assert deliver(incident("0.three"), start + timedelta(seconds=601)).outcome == "rolled_back"
    assert len(store.kinds("rollback")) == 2 and len(store.kinds("rollback_suppressed")) == 1


def test_already_on_known_good_is_a_no_op(world):
    store, cloud_run, notifier, deliver = world
    cloud_run.split = [TrafficEntry(GOOD, 100)]
    assert deliver(incident()).outcome == "already_on_known_good"
    assert cloud_run.changes == []


def test_no_known_good_revision_is_announced_not_guessed(world):
    store, cloud_run, notifier, deliver = world
    store.good.clear()
    assert deliver(incident()).outcome == "no_known_good"
    assert cloud_run.changes == [] and "NOT done" in notifier.texts[0]


def test_a_failed_traffic_change_can_be_retried(world):
    store, cloud_run, notifier, deliver = world
    cloud_run.fail_next = True
    with pytest.raises(RuntimeError, match="operation failed"):  # the injected failure, not another error
        deliver(incident())
    assert cloud_run.split == [TrafficEntry(GOOD, 90), TrafficEntry(BAD, 10, "canary")] and not store.kinds("rollback")
    assert deliver(incident()).outcome == "rolled_back"
    assert cloud_run.split == [TrafficEntry(GOOD, 100), TrafficEntry(BAD, 0, "canary")]


@pytest.mark.parametrize("body", [b"", b"{}", b'{"version": "1.1", "incident": {}}', b"x" * 70000,
                                  b'{"version": "1.2", "incident": {"incident_id": "1", "state": "weird"}}'])
def test_parse_refuses_anything_but_version_1_2(body):
    with pytest.raises(ValueError):
        rollback.parse(body)


def test_the_http_target_refuses_a_forged_call_before_doing_anything(monkeypatch):
    import flask

    import main
    from adapters.logs import JsonFormatter

    monkeypatch.setattr(main, "operations", lambda: pytest.fail("a refused call must not act"))
    records: list[logging.LogRecord] = []
    recorder = logging.Handler()
    recorder.emit = records.append  # every line the process logs, as Cloud Logging would get it
    logging.getLogger().addHandler(recorder)
    monkeypatch.setenv("ROLLBACK_WEBHOOK_USER", "monitoring")
    monkeypatch.setenv("ROLLBACK_WEBHOOK_PASSWORD", "pa55word")
    main.get_settings.cache_clear()
    try:
        app = flask.Flask(__name__)
        calls = (("", {}, 401), ("?auth_token=pa55word", {}, 401),
                 ("?auth_token=pa55word", basic("monitoring", "pa55word"), 401),
                 ("", basic("monitoring", "guess"), 403))
        for query, headers, status in calls:
            with app.test_request_context("/" + query, method="POST", json=incident().model_dump(), headers=headers):
                answer = main.rollback(flask.request)
                assert answer[1] == status
                assert "pa55word" not in answer[0]
    finally:
        main.get_settings.cache_clear()
        logging.getLogger().removeHandler(recorder)
    lines = [JsonFormatter().format(record) for record in records]
    refused = [line for line in lines if "rollback webhook refused" in line]
    assert len(refused) == len(calls)
    assert not [line for line in lines if "pa55word" in line or "auth_token" in line]
    assert sum('"secret_in_url": true' in line for line in refused) == 2


def test_the_deployed_channel_and_docs_keep_the_secret_out_of_urls_and_newlines():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    monitoring = (root / "infra" / "monitoring.tf").read_text()
    channel = monitoring[monitoring.index('resource "google_monitoring_notification_channel" "rollback"'):]
    channel = channel[:channel.index("\n}\n")]
    assert 'type         = "webhook_basicauth"' in channel and "password" in channel
    assert "auth_token" not in channel and "?" not in channel.split("url", 1)[1].splitlines()[0]
    # Each secret value the docs store goes in without a trailing newline.
    docs = (root / "docs" / "deploy.md").read_text()
    adds = [line for line in docs.splitlines() if "gcloud secrets versions add" in line]
    assert adds and all(line.startswith("printf '%s' ") for line in adds), adds
