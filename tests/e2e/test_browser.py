"""The upload widget in a real browser (Debian's chromium, driven by Playwright)
against the whole local stack, with the configured rate limits.

1. a pet photo: preview, upload progress, the cut-out displayed and placed in the mug
   mock-up's print area (screenshots kept under test-artifacts/), and the widget holding
   the session the server signed;
2. a text file renamed .jpg: the rejection message; a wall: the no-subject message; a blurred
   shot: the cut-out with a low-confidence notice (screenshot kept), gone for the next, clear photo;
3. the same page from an origin not in STORE_ORIGINS: refused by CORS, both by
   the upload-URL function and by the uploads bucket;
4. a shopper's intent: a hover reaches the GPU service's /warmup through the public
   warm function and the warm-requests push, once; the browser's rule, the server's
   policy (another browser, the hourly cap, hours, emergency mode) and the rate limit
   hold it back, and each skip is recorded with its reason.
"""

from __future__ import annotations

import io
import re
import shutil
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
import yaml
from PIL import Image

from local_stack.stack import ROOT, Stack
from processes import free_port
from settings import Settings
from tests.samples import IMAGES as SAMPLES

pytestmark = [pytest.mark.e2e]
playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (requirements-dev.txt)")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = ROOT / "test-artifacts"
DEFAULTS = Settings.model_fields  # the configured limits, not the local stack's relaxed ones
LIMITS = {"RATE_LIMIT_IP_PER_MINUTE": str(DEFAULTS["rate_limit_ip_per_minute"].default),
          "RATE_LIMIT_SESSION_PER_MINUTE": str(DEFAULTS["rate_limit_session_per_minute"].default),
          "RATE_LIMIT_BURST": str(DEFAULTS["rate_limit_burst"].default)}


# The warm function reads its windows from this file on every request, so a test can
# move the store into or out of business hours; the policy's numbers are the shipped ones.
ALWAYS_BUSINESS = {"time_zone": "America/New_York", "policy": {"warm_for_minutes": 10, "max_warmups_per_hour": 20},
                   "windows": [{"name": "business", "min_instances": 0, "max_instances": 3, "warmup": True}]}
ALWAYS_OFF = {**ALWAYS_BUSINESS, "windows": [{"name": "off", "min_instances": 0, "max_instances": 2,
                                               "warmup": False}]}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, emulators):
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} missing: apt-get install -y chromium (.ci/install-system does)")
    workdir = tmp_path_factory.mktemp("stack")
    schedules = workdir / "schedules.yaml"
    schedules.write_text(yaml.safe_dump(ALWAYS_BUSINESS))
    env = {**LIMITS, "SCHEDULES_FILE": str(schedules), "STORE_WARM_HOURS": "0-24"}
    with Stack(emulators=emulators, workdir=workdir, env=env) as running:
        running.schedules = schedules
        yield running


@pytest.fixture(scope="module")
def browser(stack):
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.console = []
    page.on("console", lambda message: page.console.append(message.text))
    yield page
    context.close()


def choose(page, name: str, data: bytes, mime: str) -> None:
    page.set_input_files(".pet-upload__input", files=[{"name": name, "mimeType": mime, "buffer": data}])


def sample_photo() -> Path:
    photos = sorted(SAMPLES.glob("*.jpg")) if SAMPLES.is_dir() else []
    if not photos:
        pytest.skip(f"no sample pet photos under {SAMPLES}")
    return photos[0]


def test_a_pet_photo_is_uploaded_with_progress_and_its_cut_out_shown(stack, page):
    photo = sample_photo()
    page.goto(stack.url("store") + "/")
    # Slow the upload (~40 KB/s) so the progress bar has steps to show.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 20, "downloadThroughput": -1,
                                                  "uploadThroughput": 40 * 1024})
    page.hover(".pet-upload__drop")
    choose(page, photo.name, photo.read_bytes(), "image/jpeg")
    # 30 s: the grant is a fresh stack's first request (its first Firestore transaction), and make test
    # starts this module with the image build and the other worker's first stack on two cores.
    page.wait_for_selector(".pet-upload[data-state=uploading]", timeout=30_000)
    page.wait_for_selector(".pet-upload[data-state=done]", timeout=120_000)

    seen = [int(p) for p in page.get_attribute(".pet-upload__progress", "data-seen").split()]
    assert seen[-1] == 100 and len(seen) >= 2 and seen == sorted(seen), seen
    print(f"progress seen: {seen}")
    assert page.eval_on_selector(".pet-upload__preview", "img => img.naturalWidth") > 0
    result = page.eval_on_selector(".pet-upload__result", "img => [img.naturalWidth, img.naturalHeight, img.src]")
    with Image.open(photo) as original:
        assert result[:2] == list(original.size)
    cutout = Image.open(io.BytesIO(requests.get(result[2], timeout=30).content))
    low, high = cutout.getchannel("A").getextrema()
    assert cutout.mode == "RGBA" and low == 0 and high == 255  # background gone, pet kept
    assert "ready for printing" in page.inner_text(".pet-upload__message")
    # The widget keeps the session the server signed (not one it made up) and it is one the server accepts.
    token = page.evaluate("window.petUpload.sessionId")
    assert token.count(".") == 2 and token == page.evaluate("sessionStorage.getItem('petUpload.session')")
    again = requests.post(stack.url("upload_url") + "/",
                          json={"content_type": "image/png", "size": 8, "session_id": token},
                          timeout=30).json()
    assert again["session_id"] == token
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-cutout.png"), full_page=True)
    assert_on_the_product(page, result[2])


def assert_on_the_product(page, result_url: str) -> None:
    """The cut-out shown on the mug mock-up: loaded, inside the print area, filling it on one
    side, its proportions kept; the preview kept as test-artifacts/browser-product.png."""
    product = page.locator(".pet-upload__product-box")
    assert product.is_visible()
    placed = page.eval_on_selector(".pet-upload__on-product", "img => [img.complete, img.naturalWidth, "
                                   "img.naturalHeight, img.src]")
    assert placed[0] and placed[1] > 0 and placed[2] > 0 and placed[3] == result_url, placed
    image = page.locator(".pet-upload__on-product").bounding_box()
    area = page.locator(".pet-upload__product #print-area").bounding_box()
    mug = page.locator(".pet-upload__product svg").bounding_box()
    assert mug["width"] > 200, mug  # drawn at a size a shopper can see
    inside = (image["x"] >= area["x"] - 1 and image["y"] >= area["y"] - 1
              and image["x"] + image["width"] <= area["x"] + area["width"] + 1
              and image["y"] + image["height"] <= area["y"] + area["height"] + 1)
    assert inside, (image, area)
    assert abs(image["width"] - area["width"]) < 2 or abs(image["height"] - area["height"]) < 2, (image, area)
    assert abs(image["width"] / image["height"] - placed[1] / placed[2]) < 0.02, (image, placed)
    product.screenshot(path=str(ARTIFACTS / "browser-product.png"))


def test_a_renamed_text_file_gets_the_rejection_message(stack, page):
    page.goto(stack.url("store") + "/")
    choose(page, "definitely-a-dog.jpg", b"this is not a photo, just some text\n" * 20, "image/jpeg")
    page.wait_for_selector(".pet-upload[data-state=error]", timeout=60_000)
    assert page.get_attribute(".pet-upload__message", "data-reason") == "not_an_image"
    assert "isn't a photo we can use" in page.inner_text(".pet-upload__message")


def _png_of(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_a_photo_without_a_pet_gets_the_no_subject_message(stack, page):
    from tests import non_pets

    page.goto(stack.url("store") + "/")
    choose(page, "my-wall.png", _png_of(non_pets.plaster_wall()), "image/png")
    page.wait_for_selector(".pet-upload[data-state=error]", timeout=120_000)
    assert page.get_attribute(".pet-upload__message", "data-reason") == "no_subject"
    assert "couldn't find your pet" in page.inner_text(".pet-upload__message")
    assert page.is_hidden(".pet-upload__result-box")


def test_a_weak_subject_is_shown_with_a_low_confidence_notice_and_a_clear_one_without(stack, page):
    """The subject gate's weak verdict (a blurred shot) ends done with a notice; the next, clear photo clears it."""
    from tests import non_pets

    page.goto(stack.url("store") + "/")
    choose(page, "blurry.png", _png_of(non_pets.blurred("camera")()), "image/png")
    page.wait_for_selector(".pet-upload[data-state=done]", timeout=120_000)
    assert page.is_visible(".pet-upload__notice")
    assert "check the cut-out before ordering" in page.inner_text(".pet-upload__notice")
    assert "ready for printing" not in page.inner_text(".pet-upload__message")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-low-confidence.png"), full_page=True)
    photo = sample_photo()
    choose(page, photo.name, photo.read_bytes(), "image/jpeg")
    page.wait_for_selector(".pet-upload[data-state=done]", state="detached", timeout=10_000)
    page.wait_for_selector(".pet-upload[data-state=done]", timeout=120_000)
    assert page.is_hidden(".pet-upload__notice")


def test_a_page_on_another_origin_is_refused_by_cors(stack, browser, page):
    from local_stack import static_site

    port = free_port()
    foreign = static_site.serve(port, stack.store_config())
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    try:
        foreign_url = f"http://127.0.0.1:{port}/"
        assert f"http://127.0.0.1:{port}" not in stack.extra_env["STORE_ORIGINS"]
        page.goto(foreign_url)
        choose(page, "cat.png", _png(), "image/png")
        page.wait_for_selector(".pet-upload[data-state=error]", timeout=30_000)
        assert page.get_attribute(".pet-upload__message", "data-reason") == "network"
        assert any("blocked by CORS policy" in m for m in page.console), page.console

        # The bucket refuses that origin too, even holding a genuine signed URL.
        grant = requests.post(stack.url("upload_url") + "/", json={"content_type": "image/png", "size": 8},
                              timeout=30).json()
        put = """async g => await new Promise(done => {
            const xhr = new XMLHttpRequest(); xhr.open("PUT", g.upload_url);
            for (const [k, v] of Object.entries(g.headers)) xhr.setRequestHeader(k, v);
            xhr.onload = () => done(xhr.status); xhr.onerror = () => done("blocked"); xhr.send("12345678"); })"""
        assert page.evaluate(put, grant) == "blocked"
        assert sum("blocked by CORS policy" in m for m in page.console) >= 2

        store_page = browser.new_page()
        store_page.goto(stack.url("store") + "/")
        assert store_page.evaluate(put, grant) == 200  # the store's own origin may use it
        store_page.close()
    finally:
        foreign.shutdown()


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "tan").save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("hours, expected", [("0-24", 1), ("", 0)])
def test_intent_warms_the_gpu_service_at_most_once_per_ten_minutes(stack, page, hours, expected):
    warm_url = "http://127.0.0.1:9/warm"  # never reached: the route below answers
    calls = []
    config = {**stack.store_config(), "warmEndpoint": warm_url, "warmHours": hours}
    page.route("**/config.json", lambda route: route.fulfill(json=config))
    page.route(warm_url, lambda route: (calls.append(route.request.method), route.fulfill(status=204)))
    page.goto(stack.url("store") + "/")
    page.evaluate("localStorage.clear()")
    for _ in range(3):
        page.hover(".pet-upload__drop")
        page.mouse.move(0, 0)
    page.focus(".pet-upload__drop")
    page.wait_for_timeout(300)
    assert calls == ["POST"] * expected
    # Eleven minutes later (as the browser's storage sees it) intent warms again.
    page.evaluate("localStorage.setItem('petUpload.warmedAt', String(Date.now() - 11 * 60 * 1000))")
    page.hover(".pet-upload__drop")
    page.wait_for_timeout(300)
    assert len(calls) == 2 * expected


# --- warm-up on intent, through the real path -------------------------------------

def _gpu_warmups(stack) -> float:
    text = requests.get(stack.url("gpu") + "/metrics", timeout=10).text
    match = re.search(r'^warmup_requests_total\{outcome="ok"\} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


class Intents:
    """The warm function's records (ops database, kind warm_intent) and the state the policy reads."""

    def __init__(self, stack):
        from google.cloud import firestore

        from bootstrap import Operations

        self.ops = firestore.Client(project=stack.project, database=Settings().ops_database)
        self.jobs = firestore.Client(project=stack.project)
        self.store = Operations(Settings()).store

    def records(self) -> list[dict]:
        docs = [d.to_dict() for d in self.ops.collection("ops_log").stream()]
        return sorted((d for d in docs if d["kind"] == "warm_intent"), key=lambda d: d["at"])

    def wait_for_record(self, count: int, timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while len(records := self.records()) < count:
            assert time.monotonic() < deadline, f"no warm_intent record #{count}: {records}"
            time.sleep(0.2)
        assert len(records) == count, records
        return records[-1]

    def forget_warmups(self) -> None:
        for name in ("ops_warmups", "ops_actions"):
            for doc in self.ops.collection(name).stream():
                doc.reference.delete()

    def reset(self) -> None:
        """No warm-up, claim, log entry or finished job yet (earlier tests uploaded and hovered)."""
        self.forget_warmups()
        for doc in self.ops.collection("ops_log").stream():
            doc.reference.delete()
        for doc in self.jobs.collection(Settings().jobs_collection).stream():
            doc.reference.delete()


def _hover_from_a_new_browser(browser, stack) -> list[str]:
    """A fresh context (its own storage: another shopper); the warm requests it sent."""
    context = browser.new_context()
    page = context.new_page()
    sent = []
    page.on("request", lambda r: sent.append(r.method) if r.url.startswith(stack.url("warm")) else None)
    page.goto(stack.url("store") + "/")
    page.hover(".pet-upload__drop")
    page.wait_for_timeout(500)
    context.close()
    return [m for m in sent if m == "POST"]


def test_intent_reaches_the_gpu_service_once_and_the_policy_holds_back_the_rest(stack, browser, page):
    with stack.client_env():
        intents = Intents(stack)
        intents.reset()
        stack.schedules.write_text(yaml.safe_dump(ALWAYS_BUSINESS))
        before = _gpu_warmups(stack)

        # One hover: one request to the warm function, one push to /warmup, seen in the GPU service's metrics.
        sent = []
        page.on("request", lambda r: sent.append(r.method) if r.url.startswith(stack.url("warm")) else None)
        page.goto(stack.url("store") + "/")
        page.evaluate("localStorage.clear()")
        page.hover(".pet-upload__drop")
        assert intents.wait_for_record(1)["outcome"] == "sent"
        deadline = time.monotonic() + 30
        while _gpu_warmups(stack) < before + 1:
            assert time.monotonic() < deadline, "no /warmup call reached the GPU service"
            time.sleep(0.2)

        # A second hover in the same browser within 10 minutes: the widget sends nothing.
        page.mouse.move(0, 0)
        page.hover(".pet-upload__drop")
        page.wait_for_timeout(500)
        assert [m for m in sent if m == "POST"] == ["POST"]

        # Another browser within the server's window: sent, refused by the policy, recorded.
        assert _hover_from_a_new_browser(browser, stack) == ["POST"]
        skipped = intents.wait_for_record(2)
        assert skipped["outcome"] == "skipped" and "already warm" in skipped["reason"]

        # The 21st of the hour: 20 warm-ups 11 to 30 minutes ago (none recent), then a hover.
        intents.forget_warmups()
        now = datetime.now(timezone.utc)
        for minute in range(11, 31):
            intents.store.record_warmup(now - timedelta(minutes=minute))
        _hover_from_a_new_browser(browser, stack)
        capped = intents.wait_for_record(3)
        assert capped["outcome"] == "skipped" and "cap reached (20 an hour)" in capped["reason"]

        # Outside business hours.
        intents.forget_warmups()
        stack.schedules.write_text(yaml.safe_dump(ALWAYS_OFF))
        _hover_from_a_new_browser(browser, stack)
        off = intents.wait_for_record(4)
        assert off["outcome"] == "skipped" and off["reason"] == "window off has no warm-ups"

        # Emergency cost mode, in business hours again.
        stack.schedules.write_text(yaml.safe_dump(ALWAYS_BUSINESS))
        interval = datetime(2026, 12, 1, tzinfo=timezone.utc)
        assert intents.store.enter_emergency("browser-test", interval)
        try:
            _hover_from_a_new_browser(browser, stack)
            emergency = intents.wait_for_record(5)
            assert emergency["outcome"] == "skipped" and "emergency cost mode" in emergency["reason"]
        finally:
            intents.store.leave_emergency("browser-test", interval + timedelta(days=31))

        # None of those skips reached the GPU service.
        time.sleep(1)
        assert _gpu_warmups(stack) == before + 1
        print("warm intents:", [(r["outcome"], r["reason"]) for r in intents.records()])


def test_the_warm_function_refuses_a_foreign_origin_and_a_flood(stack, browser):
    from local_stack import static_site

    port = free_port()
    foreign = static_site.serve(port, stack.store_config())
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    context = browser.new_context()
    try:
        page = context.new_page()
        console = []
        page.on("console", lambda message: console.append(message.text))
        page.goto(f"http://127.0.0.1:{port}/")
        page.hover(".pet-upload__drop")
        page.wait_for_timeout(1000)
        assert any("blocked by CORS policy" in m and stack.url("warm") in m for m in console), console
    finally:
        context.close()
        foreign.shutdown()

    # A flood from one address: the configured burst passes, then 429 with Retry-After.
    answers = [requests.post(stack.url("warm") + "/", json={}, timeout=10) for _ in range(25)]
    codes = [a.status_code for a in answers]
    took = sorted(a.elapsed.total_seconds() * 1000 for a in answers if a.status_code == 202)
    print(f"flood: {codes.count(202)} x 202, {codes.count(429)} x 429; 202 answered in "
          f"{took[len(took) // 2]:.0f} ms median, {took[-1]:.0f} ms max")
    assert 429 in codes and set(codes) <= {202, 429}, codes
    refused = answers[codes.index(429)]
    assert int(refused.headers["Retry-After"]) >= 1


# --- background and effect switches (the variant function) ---------------------------

def _shown_variant(page, previous: str | None) -> Image.Image:
    page.wait_for_function("([prev]) => { const r = document.querySelector('.pet-upload');"
                           " return r.dataset.variant === 'shown' && r.dataset.variantObject !== prev; }",
                           arg=[previous], timeout=60_000)
    src = page.get_attribute(".pet-upload__result", "src")
    assert "/variants/" in src
    return Image.open(io.BytesIO(requests.get(src, timeout=30).content))


def test_the_background_and_effect_switches_show_variants_from_the_mask(stack, page):
    from tests.e2e.helpers import kept_mask, photo_bytes

    page.goto(stack.url("store") + "/")
    page.wait_for_selector(".pet-upload[data-state=idle]")
    assert page.is_hidden(".pet-upload__variants")
    choose(page, "cat.jpg", photo_bytes("JPEG", size=(320, 240)), "image/jpeg")
    page.wait_for_selector(".pet-upload[data-state=done]", timeout=120_000)
    assert page.is_visible(".pet-upload__variants")
    result = page.get_attribute(".pet-upload__result", "src")
    job_id = re.search(r"results/([0-9a-f]{32})\.", result).group(1)
    assert kept_mask(stack, job_id).size == Image.open(io.BytesIO(requests.get(result, timeout=30).content)).size

    page.check("[name=pet-upload-background][value=white]")
    white = _shown_variant(page, None)
    assert white.format == "WEBP" and white.mode == "RGB" and white.size == (320, 240)
    assert min(white.getpixel((1, 1))) >= 245
    first = page.get_attribute(".pet-upload", "data-variant-object")

    page.check("[name=pet-upload-effect][value=blackwhite]")
    grey = _shown_variant(page, first)
    r, g, b = (channel.astype(int) for channel in __import__("numpy").asarray(grey).transpose(2, 0, 1))
    assert abs(r - b).mean() < 3 and abs(r - g).mean() < 3  # black and white, on white
    second = page.get_attribute(".pet-upload", "data-variant-object")

    page.fill(".pet-upload__colour", "#ff8800")
    orange = _shown_variant(page, second)
    assert page.is_checked("[name=pet-upload-background][value=colour]")
    # The mug mock-up follows the picked look.
    page.wait_for_function("() => document.querySelector('.pet-upload__on-product').src.includes('/variants/')",
                           timeout=30_000)
    assert abs(orange.getpixel((1, 1))[0] - 255) <= 8 and abs(orange.getpixel((1, 1))[1] - 136) <= 8
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "browser-variant.png"), full_page=True)

    # Back to the first look: the same spec is the same stored object, not a new render.
    page.check("[name=pet-upload-background][value=white]")
    page.check("[name=pet-upload-effect][value=none]")
    page.wait_for_function("([o]) => document.querySelector('.pet-upload').dataset.variantObject === o",
                           arg=[first], timeout=60_000)


def test_the_variant_function_refuses_a_flood_with_429(stack):
    # The configured burst per address (10) then 429 with Retry-After; garbage counts too.
    answers = [requests.post(stack.url("variant") + "/", json={"job_id": "0" * 32}, timeout=10) for _ in range(14)]
    codes = [a.status_code for a in answers]
    assert 429 in codes and set(codes) <= {404, 429}, codes
    assert int(answers[codes.index(429)].headers["Retry-After"]) >= 1
