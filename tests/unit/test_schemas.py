"""Message schemas against golden payloads in Google's formats."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from events.schemas import GcsObjectEvent, JobEvent, PushEnvelope, SegmentRequest, UploadUrlRequest, encode

DATA = Path(__file__).resolve().parent.parent / "data"


def test_a_real_format_finalize_notification_parses():
    envelope = PushEnvelope.model_validate(json.loads((DATA / "gcs_finalize_push.json").read_text()))
    event = GcsObjectEvent.from_message(envelope.message)
    assert event.event_type == "OBJECT_FINALIZE" and event.bucket == "pet-uploads"
    assert event.name == "uploads/0123456789abcdef0123456789abcdef"
    assert event.generation == "1763899200123456" and event.size == 245111
    assert event.key == "pet-uploads/uploads/0123456789abcdef0123456789abcdef#1763899200123456"


def test_messages_round_trip_through_pubsub_bytes():
    request = SegmentRequest(job_id="j", bucket="b", object="o", generation="1", content_type="image/png")
    assert SegmentRequest.model_validate_json(encode(request)) == request
    event = JobEvent(job_id="j", kind="succeeded", timings={"inference": 0.5})
    assert JobEvent.model_validate_json(encode(event)) == event


@pytest.mark.parametrize("body", [
    {"content_type": "image/png"},                                     # size missing
    {"content_type": "image/png", "size": "big"},                      # wrong type
    {"content_type": "image/png", "size": 10, "admin": True},          # unknown field
    {"content_type": "image/png", "size": 10, "session_id": "x" * 500},  # huge string
    {"content_type": "image/png", "size": 10, "session_id": "../../"},   # not an id
    {"content_type": "image/png", "size": 10, "output_format": "gif"},
])
def test_the_storefront_request_is_strict(body):
    with pytest.raises(ValidationError):
        UploadUrlRequest.model_validate(body)


def test_google_payloads_may_grow_new_fields():
    envelope = PushEnvelope.model_validate({"message": {"data": "", "newField": 1}, "subscription": "s", "extra": 2})
    assert envelope.message.json_data() is None


def test_log_lines_are_cloud_logging_json_with_the_trace(capsys):
    import logging

    from adapters import logs

    logs.setup("INFO")
    logs.set_trace("105445aa7843bc8bf206b12000100000/1;o=1", "demo-proj")
    logs.log(logging.getLogger("t"), logging.WARNING, "hello", job_id="j1")
    entry = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert entry["severity"] == "WARNING" and entry["message"] == "hello" and entry["job_id"] == "j1"
    assert entry["logging.googleapis.com/trace"] == "projects/demo-proj/traces/105445aa7843bc8bf206b12000100000"
    logs.set_trace(None, "demo-proj")
