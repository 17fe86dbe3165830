"""Fuzz the public functions' input (hypothesis): whatever a caller sends, the
answer is a 4xx or a success, never a 5xx, an unhandled exception or a trace."""

import json

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domain.jobs import Job, State
from settings import Settings
from tests.fakes_web import FakeAdapters, MemoryRateLimits, function_client
from tests.variant_fixtures import OWNER_TOKEN

STORE = "http://127.0.0.1:8000"
FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def mostly(common: list, rare):
    """Usually one of `common` (so the fuzz gets past the gates), sometimes anything."""
    return st.sampled_from(range(10)).flatmap(lambda i: rare if i == 9 else st.sampled_from(common))


# Header values as HTTP can carry them (the test client refuses newlines itself).
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
# Near-valid requests reach deeper than random JSON: each known field, wrong or right.
upload_requests = st.fixed_dictionaries({}, optional={
    "content_type": mostly(["image/jpeg"] * 3 + ["image/png", "image/webp", "text/plain"], st.text(max_size=300)),
    "size": mostly([1, 2_000_000, 2_000_000, 30 * 1024 * 1024, 30 * 1024 * 1024 + 1, 0, -1],
                   st.integers() | json_values),
    "session_id": mostly(["", "s1", "s1", "s1", "a" * 128, "a" * 129, "a b"], json_values),
    "output_format": mostly(["png"] * 4 + ["webp", "jpeg", "gif"], json_values),
    "effect": mostly(["none"] * 4 + ["blackwhite", "sepia"], json_values),
})
with_unknown = st.tuples(upload_requests, st.dictionaries(st.text(max_size=12), json_values, min_size=1, max_size=3))
bodies = st.sampled_from(range(10)).flatmap(
    lambda i: upload_requests.map(
        lambda d: json.dumps({"content_type": "image/jpeg", "size": 1, **d}).encode()) if i < 6
    else with_unknown.map(lambda t: json.dumps({**t[1], **t[0]}).encode()) if i < 7
    else json_values.map(lambda v: json.dumps(v).encode()) if i < 9 else st.binary(max_size=5000))
content_types = mostly(["application/json", "application/json", "application/json; charset=utf-8", "text/plain",
                        "multipart/form-data; boundary=x", ""], header_text)
origins = mostly([STORE, STORE, "", "http://evil.test", "null"], header_text)


def fresh():
    from tests.variant_fixtures import SESSION_KEY, done_job

    fakes = FakeAdapters(settings=Settings(store_origins=STORE, trusted_proxy_hops=1, session_signing_key=SESSION_KEY))
    fakes.jobs.create(Job(job_id="0" * 32, content_type="image/png"))
    fakes.jobs.create(Job(job_id="1" * 32, state=State.DONE, result_object="results/" + "1" * 32 + ".png"))
    done_job(fakes.jobs, fakes.blobs, fakes.settings, size=(48, 36), job_id="2" * 32)  # its photo and mask kept
    return fakes, MemoryRateLimits()


@pytest.fixture(scope="module")
def apps():
    """One app per target (loading main.py is slow); each example gets fresh fakes."""
    holder, clients = {}, {}
    for target in ("upload_url", "job_status", "variant"):
        holder[target] = fresh()
        clients[target] = function_client(target, *holder[target])
        module = clients[target].main_module
        module.adapters = lambda t=target: holder[t][0]
        module.rate_limiter = lambda t=target: holder[t][1]
        module.get_settings = lambda t=target: holder[t][0].settings

    def reset(target):
        holder[target] = fresh()
        return clients[target]

    return reset


def assert_clean(response):
    event(f"HTTP {response.status_code}")  # --hypothesis-show-statistics: what the fuzz reached
    text = response.get_data(as_text=True)
    assert 200 <= response.status_code < 300 or 400 <= response.status_code < 500, (response.status_code, text)
    assert "Traceback" not in text and 'File "' not in text
    if text:
        json.loads(text)  # every answer with a body is JSON the widget can read


@FUZZ
@given(body=bodies, content_type=content_types, origin=origins, forwarded=header_text,
       method=mostly(["POST"] * 6 + ["GET", "OPTIONS"], st.sampled_from(["PUT", "DELETE", "PATCH", "HEAD"])))
def test_upload_url_never_fails_with_a_5xx(apps, body, content_type, origin, method, forwarded):
    client = apps("upload_url")
    headers = {"Content-Type": content_type, "X-Forwarded-For": forwarded}
    if origin:
        headers["Origin"] = origin
    assert_clean(client.open("/", method=method, data=body, headers=headers))


status_bodies = st.sampled_from(range(10)).flatmap(
    lambda i: st.fixed_dictionaries({}, optional={
        "job_id": mostly(["0" * 32, "1" * 32, "2" * 32, ""], json_values),
        "session_id": mostly(["", "s1", OWNER_TOKEN, OWNER_TOKEN, "a b"], json_values)}
    ).map(lambda d: json.dumps(d).encode()) if i < 8
    else json_values.map(lambda v: json.dumps(v).encode()) if i < 9 else st.binary(max_size=2000))


@FUZZ
@given(body=status_bodies, content_type=content_types, origin=origins,
       method=mostly(["POST"] * 8 + ["GET", "OPTIONS"], st.sampled_from(["PUT", "DELETE"])))
def test_job_status_never_fails_with_a_5xx(apps, body, content_type, origin, method):
    client = apps("job_status")
    headers = {"Content-Type": content_type, "X-Forwarded-For": "203.0.113.9"}
    if origin:
        headers["Origin"] = origin
    assert_clean(client.open("/", method=method, data=body, headers=headers))


# The variant's spec, each field wrong or right; job "2"*32 is done with its photo and mask.
variant_specs = st.fixed_dictionaries({}, optional={
    "format": mostly(["png", "webp", "jpeg", "gif"], json_values),
    "effect": mostly(["none", "blackwhite", "sepia"], json_values),
    "background": mostly(["transparent", "white", "#1e90ff", "#FFF", "red", "#12345g"], json_values),
    "crop": mostly([{}, {"margin": 0.1}, {"margin": 0.5}, {"margin": 0.51}, {"margin": 0}, None], json_values),
    "max_side": mostly([32, 64, 4096, 4097, 31, None], json_values),
})
variant_bodies = st.sampled_from(range(10)).flatmap(
    lambda i: st.fixed_dictionaries({"job_id": mostly(["2" * 32] * 4 + ["1" * 32, "0" * 32, "3" * 32], json_values)},
                                    optional={"session_id": mostly(["", "s1", OWNER_TOKEN, OWNER_TOKEN], json_values),
                                              "spec": variant_specs}
                                    ).map(lambda d: json.dumps(d).encode()) if i < 8
    else json_values.map(lambda v: json.dumps(v).encode()) if i < 9 else st.binary(max_size=2000))


@FUZZ
@given(body=variant_bodies, content_type=content_types, origin=origins,
       method=mostly(["POST"] * 8 + ["GET", "OPTIONS"], st.sampled_from(["PUT", "DELETE"])))
def test_variant_never_fails_with_a_5xx(apps, body, content_type, origin, method):
    client = apps("variant")
    headers = {"Content-Type": content_type, "X-Forwarded-For": "203.0.113.9"}
    if origin:
        headers["Origin"] = origin
    assert_clean(client.open("/", method=method, data=body, headers=headers))
