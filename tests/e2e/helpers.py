"""Small helpers for driving the local stack as the storefront and as Google would."""

from __future__ import annotations

import io
import json
import time
import uuid

from PIL import Image


def photo_bytes(fmt: str = "JPEG", size=(640, 480), exif_orientation: int | None = None,
                unique: bool = True) -> bytes:
    """A real photo (scikit-image's cat) shown at `size`; with exif_orientation=6 it is stored sideways
    (rotated 90° counter-clockwise) and tagged to be turned upright on display, as phones do.

    `unique` tags the file with a fresh id (a comment, not pixels), so each call is a new photo
    to the mask cache (domain/cache.py) and takes the GPU path; upload the same bytes twice for a hit."""
    from PIL.PngImagePlugin import PngInfo
    from skimage import data

    image = Image.fromarray(data.chelsea()).resize(size)
    options = {}
    if unique:
        tag = uuid.uuid4().hex
        if fmt == "PNG":
            options["pnginfo"] = PngInfo()
            options["pnginfo"].add_text("Comment", tag)
        elif fmt == "WEBP":
            options["xmp"] = tag.encode()
        else:
            options["comment"] = tag
    if exif_orientation:
        assert exif_orientation == 6, "only the common portrait-phone case is needed"
        image = image.transpose(Image.Transpose.ROTATE_90)
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        options["exif"] = exif
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def fetch(url: str) -> Image.Image:
    """The image at a (signed) URL."""
    import requests

    response = requests.get(url, timeout=30)
    response.raise_for_status()
    return Image.open(io.BytesIO(response.content))


def wait_for(predicate, timeout: float, every: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


class SegmentTap:
    """A pull subscription on the segment-requests topic: sees every request the GPU service is sent."""

    def __init__(self, stack, name: str):
        from google.cloud import pubsub_v1

        with stack.client_env():
            self.subscriber = pubsub_v1.SubscriberClient()
            publisher = pubsub_v1.PublisherClient()
        self.path = self.subscriber.subscription_path(stack.project, name)
        self.subscriber.create_subscription(request={
            "name": self.path, "topic": publisher.topic_path(stack.project, "segment-requests")})

    def job_ids(self) -> list[str]:
        seen = []
        while True:
            response = self.subscriber.pull(request={"subscription": self.path, "max_messages": 100}, timeout=10)
            if not response.received_messages:
                return seen
            seen += [json.loads(m.message.data)["job_id"] for m in response.received_messages]
            self.subscriber.acknowledge(request={"subscription": self.path,
                                                 "ack_ids": [m.ack_id for m in response.received_messages]})


def storage_client(stack):
    """The official Storage client on the stack's fake-gcs-server."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with stack.client_env():
        return storage.Client(project=stack.project, credentials=AnonymousCredentials())


def kept_mask(stack, job_id: str) -> Image.Image:
    """The job's mask as the pipeline keeps it (domain/outputs.py mask_name); fails if it kept none."""
    from domain.outputs import mask_name

    blob = storage_client(stack).bucket(stack.env["RESULTS_BUCKET"]).blob(mask_name(job_id))
    assert blob.exists(), f"no mask kept for job {job_id}"
    return Image.open(io.BytesIO(blob.download_as_bytes()))
