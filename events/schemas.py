"""Messages of the pipeline as pydantic models.

Unknown fields are refused on what shoppers send (extra="forbid") and tolerated
on what Google sends (extra="ignore"), since Google adds fields over time.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=200)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


# --- The storefront -------------------------------------------------------

class UploadUrlRequest(_Strict):
    content_type: str = Field(max_length=100)
    size: int = Field(ge=0, le=1 << 40)
    # The signed session token upload_url issued (id.timestamp.signature), or empty.
    session_id: str = Field(default="", max_length=128, pattern=r"^[A-Za-z0-9_\-.]*$")
    output_format: Literal["png", "webp", "jpeg"] = "png"
    effect: Literal["none", "blackwhite"] = "none"


class WarmRequest(_Strict):
    """What the widget sends when a shopper shows intent (functions/warm.py): nothing else fits."""

    session_id: str = Field(default="", max_length=128, pattern=r"^[A-Za-z0-9_\-.]*$")
    trigger: Literal["upload_control", "product_page"] = "upload_control"


class StatusRequest(_Strict):
    """job_status's body: POSTed, so the job id stays out of URLs and the request logs that keep them."""

    job_id: str = Field(default="", max_length=64)  # none at all gets what an unknown id gets
    session_id: str = Field(default="", max_length=128, pattern=r"^[A-Za-z0-9_\-.]*$")


class UploadUrlResponse(BaseModel):
    job_id: str
    upload_url: str
    method: str = "PUT"
    headers: dict[str, str]
    expires_at: datetime
    session_id: str = ""  # the shopper's signed session: send it back with every later request


# --- Pub/Sub ----------------------------------------------------------------

class PubSubMessage(_Lenient):
    data: str = ""
    attributes: dict[str, str] = Field(default_factory=dict)
    message_id: str = Field(default="", alias="messageId")
    publish_time: str = Field(default="", alias="publishTime")

    def json_data(self) -> Any:
        return json.loads(base64.b64decode(self.data) or b"null")


class PushEnvelope(_Lenient):
    """What a push subscription POSTs (also the `data` of a Pub/Sub CloudEvent)."""

    message: PubSubMessage
    subscription: str = ""
    delivery_attempt: int | None = Field(default=None, alias="deliveryAttempt")


def encode(model: BaseModel) -> bytes:
    """A model as the bytes of a Pub/Sub message."""
    return model.model_dump_json().encode()


# --- Cloud Storage notifications -------------------------------------------

class GcsObjectEvent(_Lenient):
    """An OBJECT_FINALIZE notification (payload format JSON_API_V1)."""

    event_type: str
    bucket: str
    name: str
    generation: str
    content_type: str = ""
    size: int = 0

    @classmethod
    def from_message(cls, message: PubSubMessage) -> GcsObjectEvent:
        attrs = message.attributes
        resource = message.json_data() or {}
        return cls(
            event_type=attrs.get("eventType", ""),
            bucket=attrs.get("bucketId") or resource.get("bucket", ""),
            name=attrs.get("objectId") or resource.get("name", ""),
            generation=str(attrs.get("objectGeneration") or resource.get("generation", "")),
            content_type=resource.get("contentType", ""),
            size=int(resource.get("size", 0) or 0),
        )

    @property
    def key(self) -> str:
        """Identity of this upload: the same notification redelivered has the same key."""
        return f"{self.bucket}/{self.name}#{self.generation}"


# --- Between our own services ---------------------------------------------

class SegmentRequest(_Lenient):
    job_id: str
    bucket: str
    object: str
    generation: str
    content_type: str
    output_format: Literal["png", "webp", "jpeg"] = "png"
    effect: Literal["none", "blackwhite"] = "none"
    queued_at: datetime = Field(default_factory=utcnow)


class RenderRequest(SegmentRequest):
    """Intake -> the render function: a segment request whose mask is cached at `cache_entry`,
    cut out without the GPU."""

    cache_entry: str
    content_type: str = ""  # requests published before it was carried still validate

    def as_segment_request(self) -> SegmentRequest:
        """The GPU path for the same job (the entry expired or does not fit)."""
        return SegmentRequest.model_validate(self.model_dump(exclude={"cache_entry"}))


class JobEvent(_Lenient):
    """Progress reported by the GPU service; the status tracker applies it."""

    job_id: str
    kind: Literal["started", "succeeded", "failed"]
    at: datetime = Field(default_factory=utcnow)
    attempt: int = 1
    cold_start: bool = False  # "started": the instance became ready after the job was queued
    result_object: str = ""
    # "succeeded": the subject gate (domain/subject.py) found only a weak subject in the mask.
    low_confidence: bool = False
    reason: str = ""
    detail: str = ""
    timings: dict[str, float] = Field(default_factory=dict)
    # "succeeded" by the render function from a cached mask, and the GPU seconds that saved.
    cache_hit: bool = False
    gpu_seconds_saved: float = 0.0
