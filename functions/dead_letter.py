"""Dead letters (Pub/Sub): a message that exhausted its attempts ends its job.

The message is the original one: a segmentation request, or an upload
notification intake never managed to handle. Either way the job ends `failed`
with reason `dead_letter` instead of waiting forever.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from pydantic import ValidationError

from adapters.jobs import JobRepository
from adapters.logs import log
from domain.jobs import State
from events.schemas import GcsObjectEvent, PubSubMessage, SegmentRequest
from functions.intake import UPLOAD_PREFIX

logger = logging.getLogger(__name__)


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


def handle(message: PubSubMessage, *, jobs: JobRepository) -> str:
    job_id = job_id_of(message)
    attempts = message.attributes.get("CloudPubSubDeadLetterSourceDeliveryCount", "")
    log(logger, logging.ERROR, "message dead-lettered", job_id=job_id, delivery_attempts=attempts,
        message_id=message.message_id)
    if not job_id:
        return "no_job"
    now = datetime.now(timezone.utc)
    detail = f"gave up after {attempts or 'the configured'} delivery attempts"
    job, changed = jobs.update(job_id, lambda j: j.move(State.FAILED, now, reason="dead_letter", detail=detail))
    if job is None:
        return "unknown_job"
    return "failed" if changed else "no_change"
