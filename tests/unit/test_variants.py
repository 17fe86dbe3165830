"""Variants: the spec's validation and canonical hash, the render from a stored mask, and the
public function over HTTP (functions-framework client, in-memory adapters)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from domain.jobs import State
from domain.variants import BadSpec, VariantRequest, VariantSpec, canonical, object_name, spec_hash
from settings import Settings
from tests.fakes_web import FakeAdapters, MemoryRateLimits, function_client
from tests.variant_fixtures import OWNER_TOKEN, SESSION_KEY, done_job, photo_and_mask

STORE = "http://127.0.0.1:8000"
CAP = 4096


def spec(**fields) -> dict:
    return canonical(VariantSpec.model_validate(fields, strict=True), CAP)


# --- the spec ------------------------------------------------------------------

def test_defaults_and_spellings_of_the_same_picture_hash_the_same():
    assert spec() == spec(format="png", effect="none", background="transparent", max_side=CAP)
    assert spec_hash(spec(background="white")) == spec_hash(spec(background="#FFFFFF"))
    assert spec_hash(spec(background=" #1E90ff ")) == spec_hash(spec(background="#1e90ff"))
    assert spec(format="jpeg")["background"] == "#ffffff"  # JPEG has no alpha: white unless told
    assert spec(crop={})["crop_margin"] == 0.05


def test_every_field_moves_the_hash():
    variants = [spec(), spec(format="webp"), spec(format="jpeg"), spec(effect="blackwhite"), spec(background="white"),
                spec(background="#102030"), spec(crop={"margin": 0.0}), spec(crop={"margin": 0.2}),
                spec(max_side=512)]
    assert len({spec_hash(v) for v in variants}) == len(variants)
    name = object_name("a" * 32, spec(format="jpeg"))
    assert name.startswith("variants/" + "a" * 32 + "/") and name.endswith(".jpg") and len(name.split("/")[2]) == 36


@pytest.mark.parametrize("fields, where", [
    ({"format": "gif"}, "format"), ({"effect": "sepia"}, "effect"), ({"background": "red"}, "background"),
    ({"background": "#12345"}, "background"), ({"background": "url(x)"}, "background"),
    ({"crop": {"margin": 0.6}}, "crop.margin"), ({"crop": {"margin": -0.1}}, "crop.margin"),
    ({"crop": {"margin": 0.1, "x": 1}}, "crop.x"), ({"max_side": 8}, "max_side"), ({"max_side": "512"}, "max_side"),
    ({"max_side": 512.5}, "max_side"), ({"size": 10}, "size"), ({"crop": True}, "crop"),
])
def test_a_bad_spec_is_refused_with_the_field_named(fields, where):
    with pytest.raises(ValidationError) as caught:
        VariantSpec.model_validate(fields, strict=True)
    assert where in {".".join(map(str, e["loc"])) for e in caught.value.errors()}


def test_rules_beyond_the_schema():
    with pytest.raises(BadSpec, match="transparency"):
        spec(format="jpeg", background="transparent")
    with pytest.raises(BadSpec, match="cap"):
        spec(max_side=CAP + 1)


def test_the_request_forbids_unknown_fields():
    with pytest.raises(ValidationError):
        VariantRequest.model_validate({"job_id": "a" * 32, "spec": {}, "bucket": "x"}, strict=True)


# --- the render ----------------------------------------------------------------

def _render(photo, mask, **fields):
    from cutout.variant_render import render_variant

    return render_variant(photo, mask, spec(**fields), Settings().variant_decode_budget)


def test_the_same_spec_renders_the_same_bytes_in_every_format():
    photo, mask = photo_and_mask()
    for fmt in ("png", "webp", "jpeg"):
        assert _render(photo, mask, format=fmt, crop={"margin": 0.1}) == _render(photo, mask, format=fmt,
                                                                                 crop={"margin": 0.1}), fmt


def test_transparent_cut_out_keeps_the_mask_as_alpha_and_clears_the_background():
    photo, mask = photo_and_mask()
    out = Image.open(io.BytesIO(_render(photo, mask)))
    assert out.mode == "RGBA" and out.size == (160, 120)
    assert np.array_equal(np.asarray(out.getchannel("A")), np.asarray(Image.open(io.BytesIO(mask))))
    assert out.getpixel((2, 2)) == (0, 0, 0, 0)


def test_background_effect_crop_and_size():
    photo, mask = photo_and_mask()
    white = Image.open(io.BytesIO(_render(photo, mask, background="white")))
    assert white.mode == "RGB" and white.getpixel((2, 2)) == (255, 255, 255)
    blue = Image.open(io.BytesIO(_render(photo, mask, format="jpeg", background="#1e90ff")))
    assert blue.format == "JPEG" and np.abs(np.subtract(blue.getpixel((2, 2)), (30, 144, 255))).max() <= 4
    grey = np.asarray(Image.open(io.BytesIO(_render(photo, mask, effect="blackwhite"))).convert("RGBA"))
    subject = grey[grey[..., 3] == 255][:, :3].astype(int)
    assert subject.size and np.abs(subject - subject[:, :1]).max() <= 1  # R = G = B
    # The box of alpha > 32, grown by 10 % of its longer side on each side.
    alpha = np.asarray(Image.open(io.BytesIO(mask))) > 32
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    box_w, box_h = cols[-1] + 1 - cols[0], rows[-1] + 1 - rows[0]
    pad = round(0.1 * max(box_w, box_h))
    cropped = Image.open(io.BytesIO(_render(photo, mask, crop={"margin": 0.1})))
    assert cropped.size == (box_w + 2 * pad, box_h + 2 * pad) and cropped.width < 160
    small = Image.open(io.BytesIO(_render(photo, mask, max_side=64)))
    assert max(small.size) == 64


def test_a_mask_that_does_not_fit_the_photo_is_refused():
    from cutout.variant_render import BadMask

    photo, _ = photo_and_mask()
    _, other = photo_and_mask((100, 100))
    with pytest.raises(BadMask):
        _render(photo, other)


# --- the function ----------------------------------------------------------------

@pytest.fixture
def fakes():
    return FakeAdapters(settings=Settings(store_origins=STORE, trusted_proxy_hops=1, session_signing_key=SESSION_KEY))


@pytest.fixture
def limiter():
    return MemoryRateLimits()


@pytest.fixture
def client(fakes, limiter):
    return function_client("variant", fakes, limiter)


def post(client, body, ip="203.0.113.7", session=OWNER_TOKEN):
    """As the widget posts: the job's owner's session unless the body names one."""
    data = body if isinstance(body, (bytes, str)) else json.dumps({"session_id": session, **body})
    return client.post("/", data=data, headers={"X-Forwarded-For": ip, "Origin": STORE,
                                               "Content-Type": "application/json"})


def test_a_done_job_gets_a_signed_url_and_the_same_spec_the_same_object(client, fakes):
    job_id = done_job(fakes.jobs, fakes.blobs, fakes.settings)
    body = {"job_id": job_id, "spec": {"format": "webp", "background": "white", "crop": {"margin": 0.1}}}
    first = post(client, body)
    assert first.status_code == 200, first.get_data(as_text=True)
    answer = first.get_json()
    assert answer["object"].startswith(f"variants/{job_id}/") and not answer["cached"]
    assert answer["url"].startswith(f"https://signed.example/{fakes.settings.results_bucket}/variants/")
    stored = fakes.blobs.read(fakes.settings.results_bucket, answer["object"])
    assert Image.open(io.BytesIO(stored)).format == "WEBP"
    again = post(client, {**body, "spec": {**body["spec"], "background": "#FFFFFF"}}).get_json()
    assert again["object"] == answer["object"] and again["cached"]
    assert fakes.publisher.messages == []  # no segment request, no GPU


@pytest.mark.parametrize("body, status, reason", [
    ({"job_id": "x" * 32, "spec": {"format": "gif"}}, 400, "bad_request"),
    ({"job_id": "x" * 32, "spec": {}, "extra": 1}, 400, "bad_request"),
    ({"job_id": "x" * 32, "spec": {"format": "jpeg", "background": "transparent"}}, 400, "bad_spec"),
    ({"job_id": "x" * 32, "spec": {"max_side": 100000}}, 400, "bad_spec"),
    ({"job_id": "0" * 32, "spec": {}}, 404, "not_found"),
    ({"job_id": "../../etc", "spec": {}}, 404, "not_found"),
])
def test_bad_requests_get_clear_errors(client, body, status, reason):
    answer = post(client, body)
    assert answer.status_code == status and answer.get_json()["error"] == reason
    assert answer.headers["Access-Control-Allow-Origin"] == STORE


def test_malformed_json_is_a_400(client):
    assert post(client, "{not json").status_code == 400


@pytest.mark.parametrize("state", [State.AWAITING_UPLOAD, State.QUEUED, State.PROCESSING, State.FAILED])
def test_a_job_that_is_not_done_is_a_409(client, fakes, state):
    job_id = done_job(fakes.jobs, fakes.blobs, fakes.settings, state=state)
    answer = post(client, {"job_id": job_id})
    assert answer.status_code == 409 and answer.get_json()["error"] == "not_done"
    assert state.value in answer.get_json()["detail"]


def test_a_done_job_without_its_mask_or_its_photo_says_so(client, fakes):
    job_id = done_job(fakes.jobs, fakes.blobs, fakes.settings)
    del fakes.blobs.objects[(fakes.settings.uploads_bucket, f"uploads/{job_id}")]
    assert post(client, {"job_id": job_id}).get_json()["error"] == "photo_expired"
    del fakes.blobs.objects[(fakes.settings.results_bucket, f"masks/{job_id}.png")]
    answer = post(client, {"job_id": job_id})
    assert answer.status_code == 409 and answer.get_json()["error"] == "no_mask"


def test_an_address_gets_its_burst_then_429(client, fakes, limiter):
    job_id = done_job(fakes.jobs, fakes.blobs, fakes.settings)
    codes = [post(client, {"job_id": job_id}).status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]
    refused = post(client, {"job_id": job_id})
    assert refused.headers["Retry-After"] and refused.headers["Access-Control-Allow-Origin"] == STORE
    # Garbage counts too: it cannot be used to probe past the limit.
    assert post(client, "{not json").status_code == 429


@pytest.mark.parametrize("fmt", ["png", "webp", "jpeg"])
def test_a_plain_spec_renders_what_the_gpu_service_wrote_from_the_same_mask(fmt):
    """The GPU path (float mask -> cut_out -> encode) and the render from the mask kept as 8-bit PNG
    give the same bytes: a variant (or a cache hit) of the job's own format is its result."""
    from cutout import imaging

    photo, _ = photo_and_mask()
    image = imaging.decode(photo)
    yy, xx = np.mgrid[0:image.height, 0:image.width]
    mask = np.clip(1.2 - np.hypot((xx - 80) / 50, (yy - 60) / 40), 0, 1).astype(np.float32)  # soft edges
    written = imaging.encode(imaging.cut_out(image, mask), fmt)
    kept = io.BytesIO()
    Image.fromarray(np.clip(mask * 255.0 + 0.5, 0, 255).astype(np.uint8), "L").save(kept, "PNG")
    assert _render(photo, kept.getvalue(), format=fmt) == written
