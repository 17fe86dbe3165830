"""Variants on the local stack: a done job re-rendered from its stored mask by the variant
function (fake-gcs-server, Firestore emulator), never by the GPU service; only for the session that
made the job, and at most VARIANT_MAX_SPECS (tests/conftest.py's E2E_ENV) distinct specs a job."""

import io
import uuid

import numpy as np
import pytest
import requests
from PIL import Image

from tests.e2e.helpers import SegmentTap, kept_mask, photo_bytes, storage_client

pytestmark = pytest.mark.e2e


def ask(stack, body: dict, session: str = "") -> requests.Response:
    return requests.post(stack.url("variant") + "/", json={"session_id": session, **body}, timeout=60)


@pytest.fixture(scope="module")
def done(stack):
    from storefront import Storefront

    shop = Storefront(stack.url("upload_url"), stack.url("job_status"))
    job_id = shop.upload(photo_bytes("JPEG", size=(320, 240)), "image/jpeg")
    status = shop.follow(job_id, timeout=60)
    assert status["state"] == "done", status
    cut_out = Image.open(io.BytesIO(requests.get(status["result_url"], timeout=30).content))
    assert kept_mask(stack, job_id).size == cut_out.size  # lossless grey, the upright photo's size
    return shop, job_id


def test_the_same_spec_twice_is_one_object_with_the_same_pixels_and_no_gpu_request(stack, done):
    shop, job_id = done
    tap = SegmentTap(stack, f"tap-{uuid.uuid4().hex[:8]}")
    body = {"job_id": job_id, "session_id": shop.session_id,
            "spec": {"format": "webp", "background": "#1e90ff", "crop": {"margin": 0.1}, "max_side": 200}}
    first = ask(stack, body)
    assert first.status_code == 200, first.text
    body = {**body, "session_id": shop.session_id}
    second = ask(stack, {**body, "spec": {**body["spec"], "background": "#1E90FF"}})
    assert second.status_code == 200
    assert second.json()["object"] == first.json()["object"] and (first.json()["cached"], second.json()["cached"]) == (
        False, True)
    # Both answers name one stored object, so their bytes are one read twice: that the same spec
    # renders the same bytes is tests/unit/test_variants.py's
    # test_the_same_spec_renders_the_same_bytes_in_every_format (it renders twice).
    picture = Image.open(io.BytesIO(requests.get(first.json()["url"], timeout=30).content))
    assert picture.format == "WEBP" and picture.mode == "RGB" and max(picture.size) == 200
    corner = np.asarray(picture)[1, 1].astype(int)
    assert np.abs(corner - (30, 144, 255)).max() <= 8  # the background asked for
    results = stack.env["RESULTS_BUCKET"]
    names = [b.name for b in storage_client(stack).list_blobs(results, prefix=f"variants/{job_id}/")]
    assert names == [first.json()["object"]]
    # Another spec is another object; a JPEG without a background is on white.
    jpeg = ask(stack, {"job_id": job_id, "spec": {"format": "jpeg", "effect": "blackwhite"}}, shop.session_id)
    assert jpeg.status_code == 200 and jpeg.json()["object"].endswith(".jpg")
    grey = np.asarray(Image.open(io.BytesIO(requests.get(jpeg.json()["url"], timeout=30).content)), dtype=int)
    # White wherever the kept mask is clear (not a fixed corner: the engine decides where that
    # is); alpha 2 of 255 moves white by 2 at most. About a fifth of this photo is clear.
    clear = np.asarray(kept_mask(stack, job_id)) <= 2
    assert grey.shape == (240, 320, 3) and clear.mean() > 0.1
    assert np.percentile(grey[clear].min(axis=-1), 5) >= 250  # JPEG rings a little along the pet's edge
    assert job_id not in tap.job_ids()  # the GPU service was not asked


def test_bad_specs_and_jobs_that_cannot_have_variants_get_clear_errors(stack, done):
    shop, job_id = done
    assert ask(stack, {"job_id": job_id, "spec": {"format": "gif"}}, shop.session_id).status_code == 400
    assert ask(stack, {"job_id": job_id, "spec": {"format": "jpeg", "background": "transparent"}},
               shop.session_id).json()["error"] == "bad_spec"
    assert ask(stack, {"job_id": "f" * 32}, shop.session_id).status_code == 404
    # A job whose photo never came: not done yet.
    grant = requests.post(stack.url("upload_url") + "/", json={"content_type": "image/png", "size": 8}, timeout=30)
    waiting = ask(stack, {"job_id": grant.json()["job_id"]}, grant.json()["session_id"])
    assert waiting.status_code == 409 and waiting.json()["error"] == "not_done"


def test_another_session_with_the_job_id_gets_what_an_unknown_id_gets(stack, done):
    from storefront import Storefront

    shop, job_id = done
    other = Storefront(stack.url("upload_url"), stack.url("job_status"))
    other.upload(photo_bytes("PNG", size=(64, 48)), "image/png")  # a real session of its own
    assert other.session_id and other.session_id != shop.session_id
    spec = {"format": "png", "max_side": 120}
    unknown = ask(stack, {"job_id": "e" * 32, "spec": spec}, other.session_id)
    for session in (other.session_id, "", shop.session_id[:-1] + ("A" if shop.session_id[-1] != "A" else "B")):
        stolen = ask(stack, {"job_id": job_id, "spec": spec}, session)
        assert (stolen.status_code, stolen.json()) == (404, unknown.json()) == (404, {"error": "not_found"})
        status = requests.post(stack.url("job_status") + "/", json={"job_id": job_id, "session_id": session},
                               timeout=30)
        assert status.status_code == 404 and status.json() == {"error": "not_found"}
    assert shop.status(job_id)["state"] == "done"  # the owner still gets 200
    mine = ask(stack, {"job_id": job_id, "spec": spec}, shop.session_id)
    assert mine.status_code == 200
    # The job id never went into a URL: status is POSTed, as the widget does.
    assert requests.get(stack.url("job_status") + "/", params={"job_id": job_id, "session_id": shop.session_id},
                        timeout=30).status_code == 405


def test_past_the_cap_a_new_spec_is_refused_with_429_and_writes_nothing(stack):
    from storefront import Storefront

    shop = Storefront(stack.url("upload_url"), stack.url("job_status"))
    job_id = shop.upload(photo_bytes("JPEG", size=(160, 120)), "image/jpeg")
    assert shop.follow(job_id, timeout=60)["state"] == "done"
    cap = int(stack.extra_env["VARIANT_MAX_SPECS"])
    specs = [{"format": "png", "max_side": 40 + i} for i in range(cap + 1)]
    answers = [ask(stack, {"job_id": job_id, "spec": spec}, shop.session_id) for spec in specs]
    assert [a.status_code for a in answers] == [200] * cap + [429]
    assert answers[-1].json()["error"] == "too_many_variants" and str(cap) in answers[-1].json()["detail"]
    # An earlier spec is still served (signed again, not rendered again); the cap did not move.
    again = ask(stack, {"job_id": job_id, "spec": specs[0]}, shop.session_id)
    assert again.status_code == 200 and again.json()["cached"] is True
    stored = storage_client(stack).list_blobs(stack.env["RESULTS_BUCKET"], prefix=f"variants/{job_id}/")
    names = {b.name for b in stored}
    assert names == {a.json()["object"] for a in answers[:cap]}  # the refused one wrote nothing
