"""The whole pipeline on the local stack, driven as the storefront drives it."""

import io
import json
import uuid

import numpy as np
import pytest
import requests
from PIL import Image

from tests.e2e.helpers import SegmentTap, fetch, photo_bytes, wait_for

pytestmark = pytest.mark.e2e
MB = 1024 * 1024


def test_a_photo_goes_through_every_state_to_a_cut_out(shop):
    # Shown 480x640 (portrait), stored 640x480 sideways with EXIF orientation 6, as phones do.
    data = photo_bytes("JPEG", size=(480, 640), exif_orientation=6)
    assert Image.open(io.BytesIO(data)).size == (640, 480)
    job_id = shop.upload(data, "image/jpeg")
    status = shop.follow(job_id, timeout=60)
    assert status["state"] == "done", status
    assert list(status["timestamps"]) == ["awaiting_upload", "queued", "processing", "done"]
    assert set(status["stages"]) == {"awaiting_upload->queued", "queued->processing", "processing->done"}
    assert {"download", "decode", "segment", "encode", "upload"} <= set(status["timings"])
    cut_out = fetch(status["result_url"])
    assert cut_out.format == "PNG" and cut_out.mode == "RGBA"
    assert cut_out.size == (480, 640)  # the displayed size: EXIF orientation honoured
    alpha = np.asarray(cut_out.getchannel("A"))
    assert (alpha < 16).mean() > 0.02 and (alpha > 240).mean() > 0.2  # both clear and opaque areas
    assert "exif" not in cut_out.info


def test_webp_output_and_effect_are_honoured(shop):
    job_id = shop.upload(photo_bytes("PNG", size=(320, 240)), "image/png", output_format="webp",
                         effect="blackwhite")
    status = shop.follow(job_id, timeout=60)
    cut_out = fetch(status["result_url"])
    assert cut_out.format == "WEBP" and cut_out.size == (320, 240)
    rgb = np.asarray(cut_out.convert("RGB"), dtype=np.int16)
    opaque = np.asarray(cut_out.getchannel("A")) > 240
    assert np.abs(rgb[..., 0] - rgb[..., 2])[opaque].mean() < 3  # the subject is grey


def finalize_notification(stack, job_id: str) -> tuple[dict, bytes, str]:
    """The object-finalize message exactly as the bucket sent it (attributes, data)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with stack.client_env():
        client = storage.Client(project=stack.project, credentials=AnonymousCredentials())
    blob = client.bucket(stack.env["UPLOADS_BUCKET"]).get_blob(f"uploads/{job_id}")
    attributes = {"eventType": "OBJECT_FINALIZE", "bucketId": blob.bucket.name, "objectId": blob.name,
                  "objectGeneration": str(blob.generation), "payloadFormat": "JSON_API_V1"}
    return attributes, json.dumps(blob._properties).encode(), str(blob.generation)


def result_generation(stack, job_id: str) -> list[int]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    with stack.client_env():
        client = storage.Client(project=stack.project, credentials=AnonymousCredentials())
    return [b.generation for b in client.list_blobs(stack.env["RESULTS_BUCKET"], prefix=f"results/{job_id}")]


def intake_outcomes(stack, job_id: str) -> list[str]:
    """What the intake function logged for this job's upload (its JSON log lines)."""
    lines = stack.children["intake"].log_path.read_text().splitlines()
    entries = [json.loads(line) for line in lines if line.startswith("{")]
    return [e["outcome"] for e in entries if e.get("object") == f"uploads/{job_id}"]


def test_the_same_notification_three_times_gives_one_job_one_result_one_done(stack, shop):
    from google.cloud import pubsub_v1

    tap = SegmentTap(stack, f"tap-{uuid.uuid4().hex[:8]}")
    job_id = shop.upload(photo_bytes(), "image/jpeg")
    first = shop.follow(job_id, timeout=60)
    assert first["state"] == "done"
    generations = result_generation(stack, job_id)
    attributes, data, _ = finalize_notification(stack, job_id)
    with stack.client_env():
        publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path(stack.project, "gcs-events")
    for _ in range(2):  # the original delivery plus two more of the same notification
        publisher.publish(topic, data, **attributes).result()
    wait_for(lambda: intake_outcomes(stack, job_id) == ["queued", "duplicate", "duplicate"], 20,
             message="intake to see all three deliveries")
    again = shop.follow(job_id, timeout=10)
    assert again["state"] == "done" and again["timestamps"] == first["timestamps"]
    assert result_generation(stack, job_id) == generations and len(generations) == 1
    assert tap.job_ids().count(job_id) == 1  # the GPU service was asked once


def upload_declaring(shop, declared_type: str, declared_size: int, data: bytes) -> str:
    """A client whose declared type (and size) need not match the bytes it uploads."""
    grant = shop.grant(declared_type, declared_size)
    requests.put(grant["upload_url"], data=data, headers=grant["headers"], timeout=60).raise_for_status()
    return grant["job_id"]


def write_behind_the_url(stack, shop, data: bytes) -> str:
    """An object that reaches the bucket without the signed URL's size limit (an operator's copy, a
    misconfigured bucket): intake must still check it. It fires the same finalize notification."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    grant = shop.grant("image/jpeg", 1000)
    with stack.client_env():
        client = storage.Client(project=stack.project, credentials=AnonymousCredentials())
    client.bucket(stack.env["UPLOADS_BUCKET"]).blob(f"uploads/{grant['job_id']}").upload_from_string(
        data, content_type="image/jpeg")
    return grant["job_id"]


def bad_uploads() -> dict[str, tuple[str, bytes, str]]:
    jpeg = photo_bytes("JPEG", size=(800, 600))
    bomb = io.BytesIO()
    Image.new("1", (20000, 20000)).save(bomb, "PNG")
    return {
        "renamed text file": ("image/jpeg", b"Dear shop, this is not a photo.\n" * 20, "not_an_image"),
        "truncated jpeg": ("image/jpeg", jpeg[: len(jpeg) // 2], "truncated_image"),
        "0-byte file": ("image/jpeg", b"", "empty_file"),
        "31 MB file": ("image/jpeg", jpeg + b"\0" * (31 * MB), "too_large"),
        "png declared as jpeg": ("image/jpeg", photo_bytes("PNG", size=(200, 150)), "type_mismatch"),
        "20000x20000 png": ("image/png", bomb.getvalue(), "too_many_pixels"),
    }


def test_bad_uploads_are_rejected_with_their_reason_and_never_reach_the_gpu(stack, shop):
    tap = SegmentTap(stack, f"tap-{uuid.uuid4().hex[:8]}")
    jobs = {}
    for name, (declared, data, _) in bad_uploads().items():
        if name == "31 MB file":  # a signed URL refuses it (next tests); intake checks it all the same
            jobs[name] = write_behind_the_url(stack, shop, data)
        else:  # declared 0 bytes is refused up front, so the empty file declares a small size
            jobs[name] = upload_declaring(shop, declared, max(len(data), 1000), data)
    good = shop.upload(photo_bytes(), "image/jpeg")  # a shopper uploading at the same time
    results = {name: shop.follow(job_id, timeout=60) for name, job_id in jobs.items()}
    assert {name: (s["state"], s["reason"]) for name, s in results.items()} == {
        name: ("rejected", reason) for name, (_, _, reason) in bad_uploads().items()}
    assert shop.follow(good, timeout=60)["state"] == "done"
    sent_to_gpu = wait_for(lambda: tap.job_ids() or None, 10, message="the good job's request")
    assert good in sent_to_gpu and not set(jobs.values()) & set(sent_to_gpu)
    assert stack.healthy()


def test_a_signed_url_refuses_more_bytes_than_were_declared(shop):
    grant = shop.grant("image/jpeg", 1000)
    response = requests.put(grant["upload_url"], data=b"\xff\xd8\xff" + b"\0" * 5000, headers=grant["headers"],
                            timeout=30)
    assert response.status_code == 400
    assert shop.status(grant["job_id"])["state"] == "awaiting_upload"


@pytest.mark.parametrize("content_type,size,reason", [
    ("image/jpeg", 31 * MB, "too_large"), ("text/plain", 10, "unsupported_type"), ("image/jpeg", 0, "empty_file")])
def test_oversize_and_foreign_types_are_refused_before_upload(shop, content_type, size, reason):
    response = shop.http.post(shop.upload_url_endpoint, json={"content_type": content_type, "size": size}, timeout=30)
    assert response.status_code == 400 and response.json()["error"] == reason
