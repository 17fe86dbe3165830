"""topology.yaml, applied by the local stack, is what the emulators hold."""

import pytest

import topology

pytestmark = pytest.mark.integration


def test_env_fills_names_and_defaults():
    loaded = topology.load(env={"UPLOADS_BUCKET": "shop-uploads", "PUSH_MIN_BACKOFF_SECONDS": "2"})
    assert loaded["buckets"]["uploads"]["name"] == "shop-uploads"
    assert loaded["buckets"]["results"]["name"] == "pet-results"
    assert {s["retry"]["minimum_backoff_seconds"] for s in loaded["subscriptions"]} == {2}


def test_every_subscription_targets_a_declared_topic_and_handler():
    loaded = topology.load(env={})
    topics = set(loaded["topics"])
    for sub in loaded["subscriptions"]:
        assert sub["topic"] in topics
        if "dead_letter" in sub:
            assert sub["dead_letter"]["topic"] in topics and sub["dead_letter"]["topic"] != sub["topic"]
            assert 5 <= sub["dead_letter"]["max_delivery_attempts"] <= 100  # Pub/Sub's allowed range
        target = sub["push"]
        assert target.get("function") in loaded["functions"] or target.get("service") in loaded["services"]


def test_the_emulators_hold_the_declared_subscriptions(stack):
    from google.cloud import pubsub_v1

    with stack.client_env():
        subscriber = pubsub_v1.SubscriberClient()
    segment = subscriber.get_subscription(subscription=subscriber.subscription_path(stack.project, "segment"))
    assert segment.push_config.push_endpoint == stack.url("gpu") + "/pubsub/segment"
    assert segment.ack_deadline_seconds == 300
    assert segment.dead_letter_policy.max_delivery_attempts == 5
    assert segment.dead_letter_policy.dead_letter_topic.endswith("/topics/dead-letter")
    stack.apply_topology()  # applying twice is harmless
