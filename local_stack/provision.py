"""Apply topology.yaml to the emulators: the buckets, topics and push subscriptions it declares.

The same file is the source for production provisioning (infra/ is tested
against it), so what runs locally is what is declared.
"""

from __future__ import annotations

from collections.abc import Callable

from topology import cors_rules, push_target


def apply(topology: dict, *, storage_client, publisher, subscriber,
          function_url: Callable[[str], str], service_url: Callable[[str], str]) -> None:
    """Create buckets, topics and push subscriptions; safe to run twice."""
    from google.api_core import exceptions
    from google.cloud import pubsub_v1
    from google.protobuf import duration_pb2

    project = topology["project"]
    for bucket in topology["buckets"].values():
        try:
            created = storage_client.create_bucket(bucket["name"])
        except exceptions.Conflict:
            created = storage_client.bucket(bucket["name"])
        if rules := cors_rules(bucket):
            created.cors = rules
            created.patch()
    for topic in topology["topics"]:
        try:
            publisher.create_topic(name=publisher.topic_path(project, topic))
        except exceptions.AlreadyExists:
            pass
    for sub in topology["subscriptions"]:
        if (endpoint := push_target(sub, function_url, service_url)) is None:
            continue
        request = {
            "name": subscriber.subscription_path(project, sub["name"]),
            "topic": publisher.topic_path(project, sub["topic"]),
            "push_config": pubsub_v1.types.PushConfig(
                push_endpoint=endpoint),
            "ack_deadline_seconds": sub["ack_deadline_seconds"],
            "retry_policy": pubsub_v1.types.RetryPolicy(
                minimum_backoff=duration_pb2.Duration(seconds=sub["retry"]["minimum_backoff_seconds"]),
                maximum_backoff=duration_pb2.Duration(seconds=sub["retry"]["maximum_backoff_seconds"])),
        }
        if retention := sub.get("message_retention_seconds"):
            request["message_retention_duration"] = duration_pb2.Duration(seconds=retention)
        if dead_letter := sub.get("dead_letter"):
            request["dead_letter_policy"] = pubsub_v1.types.DeadLetterPolicy(
                dead_letter_topic=publisher.topic_path(project, dead_letter["topic"]),
                max_delivery_attempts=dead_letter["max_delivery_attempts"])
        try:
            subscriber.create_subscription(request=request)
        except exceptions.AlreadyExists:
            pass
