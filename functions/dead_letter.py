"""Dead letters (Pub/Sub): messages that exhausted their delivery attempts.

Pub/Sub forwards the original message with attributes naming where it came
from: CloudPubSubDeadLetterSourceSubscription (the source subscription) and
CloudPubSubDeadLetterSourceDeliveryCount, among others
(https://cloud.google.com/pubsub/docs/dead-letter-topics). By source:

- an upload notification intake never managed to handle (intake subscription),
  or a segmentation request the GPU service never finished (segment
  subscription): the job ends `failed` with reason
  `dead_letter` instead of waiting forever, unless a worker holds a live lease
  on it (a duplicate was refused while the job runs; that worker reports, and
  if it dies its own unacknowledged message is redelivered). If a slow attempt
  still finishes after the job failed, its cut-out wins and the job ends `done`
  (domain/jobs.py, docs/failures.md);
- a job event the status tracker could not apply (job-events subscription): it
  says nothing about the job's photo, so it is applied once more here, under the
  same monotonic rules; it never fails the job. If it still cannot be applied,
  the error makes this subscription retry it;
- a budget notification budget_guard never managed to apply (budget-guard
  subscription): it names no job, so it is only logged at ERROR ("no_job"); the
  dead-letter alert (topology.yaml `alerts:`) pages the operator, and Cloud
  Billing sends the next notification within the hour anyway.

topology.yaml's `subscriptions:` is the list of what can reach this topic; a
test (tests/unit/test_function_handlers.py) keeps this docstring naming each.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from pydantic import ValidationError

from adapters.jobs import JobRepository
from adapters.leases import LeaseStore
from adapters.logs import log
from domain.jobs import State
from events.schemas import GcsObjectEvent, JobEvent, PubSubMessage, SegmentRequest
from functions import job_events
from functions.intake import UPLOAD_PREFIX

logger = logging.getLogger(__name__)

SOURCE_SUBSCRIPTION = "CloudPubSubDeadLetterSourceSubscription"
DELIVERY_COUNT = "CloudPubSubDeadLetterSourceDeliveryCount"
# topology.yaml's subscription of the job-events topic (tests/unit/test_function_handlers.py checks the name).
JOB_EVENTS_SUBSCRIPTION = "job-events"


def source_subscription(message: PubSubMessage) -> str:
    """The source subscription's id, whether the attribute holds it or its full resource name."""
    return message.attributes.get(SOURCE_SUBSCRIPTION, "").rsplit("/", 1)[-1]


def is_job_event(message: PubSubMessage) -> bool:
    """From the job-events subscription; without the attribute, by the `kind` the GPU service sets."""
    source = source_subscription(message)
    if source:
        return source == JOB_EVENTS_SUBSCRIPTION
    return message.attributes.get("kind") in ("started", "succeeded", "failed")


def job_id_of(message: PubSubMessage) -> str | None:
    if message.attributes.get("eventType"):
        try:
            event = GcsObjectEvent.from_message(message)
        except (ValidationError, ValueError, TypeError, AttributeError):  # garbage data: the attribute may still say
            name = message.attributes.get("objectId", "")
            return name[len(UPLOAD_PREFIX):] if name.startswith(UPLOAD_PREFIX) else None
        return event.name[len(UPLOAD_PREFIX):] if event.name.startswith(UPLOAD_PREFIX) else None
    try:
        return SegmentRequest.model_validate(message.json_data()).job_id
    except (ValidationError, ValueError, TypeError):
        return message.attributes.get("job_id")


def handle(message: PubSubMessage, *, jobs: JobRepository, leases: LeaseStore) -> str:
    attempts = message.attributes.get(DELIVERY_COUNT, "")
    if is_job_event(message):
        return _apply_job_event(message, jobs=jobs, attempts=attempts)
    job_id = job_id_of(message)
    log(logger, logging.ERROR, "message dead-lettered", job_id=job_id, delivery_attempts=attempts,
        source_subscription=source_subscription(message), message_id=message.message_id)
    if not job_id:
        return "no_job"
    if leases.held(job_id):
        log(logger, logging.WARNING, "job in progress under a live lease: its worker reports", job_id=job_id)
        return "in_progress"
    now = datetime.now(timezone.utc)
    detail = f"gave up after {attempts or 'the configured'} delivery attempts"
    job, changed = jobs.update(job_id, lambda j: j.move(State.FAILED, now, reason="dead_letter", detail=detail))
    if job is None:
        return "unknown_job"
    return "failed" if changed else "no_change"


def _apply_job_event(message: PubSubMessage, *, jobs: JobRepository, attempts: str) -> str:
    try:
        event = JobEvent.model_validate(message.json_data())
    except (ValidationError, ValueError, TypeError):
        log(logger, logging.ERROR, "unreadable job event dead-lettered; no job changed",
            job_id=message.attributes.get("job_id"), delivery_attempts=attempts, message_id=message.message_id)
        return "unreadable_job_event"
    log(logger, logging.ERROR, "job event dead-lettered; applying it once more", job_id=event.job_id,
        kind=event.kind, delivery_attempts=attempts, message_id=message.message_id)
    return "job_event_" + job_events.handle(event, jobs=jobs)
