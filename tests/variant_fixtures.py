"""A done job with its photo and its stored mask, for the variant tests (no GPU, no model).

The mask is made here as the pipeline keeps it (masks/{job_id}.png in the results bucket,
lossless 8-bit grey, the size of the decoded upright photo), so these tests need nothing
from the branch that writes masks."""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timezone

from PIL import Image, ImageDraw, ImageFilter

from domain.jobs import Job, State
from domain.outputs import mask_name
from domain.sessions import Sessions

# The session that owns every job made here: its id (what the job records and a handler is given)
# and its token (what a request's body carries), signed with SESSION_KEY.
SESSION_KEY = "variant-fixture-session-key-" + "v" * 32
OWNER, OWNER_TOKEN = Sessions(SESSION_KEY, 24 * 3600).issue()


def photo_and_mask(size=(160, 120)) -> tuple[bytes, bytes]:
    """A JPEG of a brown 'pet' on green grass and its soft-edged mask (PNG, mode L)."""
    width, height = size
    box = (width // 4, height // 5, width * 3 // 4, height * 9 // 10)
    photo = Image.new("RGB", size, (60, 140, 50))
    ImageDraw.Draw(photo).ellipse(box, fill=(150, 100, 60))
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse(box, fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(2))
    return _encode(photo, "JPEG", quality=90), _encode(mask, "PNG")


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def store_mask(blobs, settings, job_id: str, mask_png: bytes) -> None:
    """What the pipeline leaves for a done job: its mask beside the result."""
    blobs.write_once(settings.results_bucket, mask_name(job_id), mask_png, "image/png")


def done_job(jobs, blobs, settings, state: State = State.DONE, size=(160, 120), put_photo=None,
             job_id: str = "", session_id: str = OWNER) -> str:
    """A job in `state` whose upload and (if done) mask are stored; returns its id.
    `put_photo(bucket, name, data) -> generation` stores the photo (FakeBlobs.put by default)."""
    job_id = job_id or uuid.uuid4().hex
    photo, mask = photo_and_mask(size)
    name = f"uploads/{job_id}"
    generation = (put_photo or blobs.put)(settings.uploads_bucket, name, photo)
    now = datetime.now(timezone.utc)
    jobs.create(Job(job_id=job_id, state=state, content_type="image/jpeg", declared_size=len(photo),
                    session_id=session_id, upload_object=name, upload_generation=str(generation or ""),
                    timestamps={state.value: now},
                    result_object=f"results/{job_id}.png" if state is State.DONE else ""))
    if state is State.DONE:
        store_mask(blobs, settings, job_id, mask)
    return job_id
