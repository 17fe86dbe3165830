"""The mask cache on the local stack: the same photo uploaded twice costs one forward pass."""

import json
import time
import uuid
from datetime import datetime

import numpy as np
import pytest
import requests

from tests.e2e.helpers import SegmentTap, fetch, kept_mask, photo_bytes

pytestmark = pytest.mark.e2e


def stored(stack, job_id: str):
    """The job as Firestore holds it (what the KPI report reads)."""
    with stack.client_env():
        from google.cloud import firestore

        from adapters.jobs import FirestoreJobs

        return FirestoreJobs(firestore.Client(project=stack.project)).get(job_id)


def queued_to_done(status: dict) -> float:
    stamps = {k: datetime.fromisoformat(v) for k, v in status["timestamps"].items()}
    return (stamps["done"] - stamps["queued"]).total_seconds()


def test_the_same_photo_uploaded_twice_is_cut_out_once_by_the_gpu(stack, shop):
    tap = SegmentTap(stack, f"tap-{uuid.uuid4().hex[:8]}")
    data = photo_bytes("JPEG", size=(800, 600))  # a photo of its own: nobody uploaded it before
    first_id = shop.upload(data, "image/jpeg")
    first = shop.follow(first_id, timeout=60)
    # Whether a job was a hit is the store's to know (the KPI report), never the public status's.
    assert first["state"] == "done" and "cache_hit" not in first and stored(stack, first_id).cache_hit is False
    second_id = shop.upload(data, "image/jpeg")  # another shopper, or a retry: the same bytes
    second = shop.follow(second_id, timeout=60)
    assert second["state"] == "done" and stored(stack, second_id).cache_hit is True, second
    assert list(second["timestamps"]) == ["awaiting_upload", "queued", "done"]  # never processing on a GPU
    variant_id = shop.upload(data, "image/jpeg", output_format="webp", effect="blackwhite")
    variant = shop.follow(variant_id, timeout=60)
    assert variant["state"] == "done" and stored(stack, variant_id).cache_hit is True

    sent = tap.job_ids()
    assert sent.count(first_id) == 1 and second_id not in sent and variant_id not in sent
    # Its own result, pixel for pixel the GPU's, and its own mask; the first job's are untouched.
    assert second["result_url"] != first["result_url"]
    a, b = fetch(first["result_url"]), fetch(second["result_url"])
    assert a.size == b.size == (800, 600) and np.array_equal(np.asarray(a), np.asarray(b))
    masks = [kept_mask(stack, j) for j in (first_id, second_id, variant_id)]
    assert all(m.format == "PNG" and m.mode == "L" and m.size == (800, 600) for m in masks)
    assert np.array_equal(np.asarray(masks[0]), np.asarray(masks[1]))
    grey = fetch(variant["result_url"])
    assert grey.format == "WEBP"
    rgb = np.asarray(grey.convert("RGB"), dtype=np.int16)
    assert np.abs(rgb[..., 0] - rgb[..., 2])[np.asarray(grey.getchannel("A")) > 240].mean() < 3

    report = requests.get(stack.url("cost_report"), timeout=30).json()["cache"]
    assert report["hits"] >= 2 and report["misses"] >= 1 and report["gpu_seconds_saved"] > 0
    figures = {"gpu_path_queued_to_done_s": queued_to_done(first), "gpu_worker_s": sum(first["timings"].values()),
               "hit_queued_to_done_s": [queued_to_done(second), queued_to_done(variant)],
               "hit_render_s": [sum(second["timings"].values()), sum(variant["timings"].values())],
               "report": report, "at": time.time()}
    print("CACHE FIGURES", json.dumps(figures))
