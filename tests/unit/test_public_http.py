"""The public functions over HTTP (functions-framework test client, in-memory
adapters): CORS, server-issued sessions, rate limits with Retry-After, bounded
schema-checked bodies."""

import json
import re
import time

import pytest

from domain.sessions import Sessions
from settings import Settings
from tests.fakes_web import FakeAdapters, MemoryRateLimits, function_client

STORE = "http://127.0.0.1:8000"
PHOTO = {"content_type": "image/jpeg", "size": 2_000_000}
KEY = "test-session-key-" + "k" * 32


@pytest.fixture
def fakes():
    return FakeAdapters(settings=Settings(store_origins=STORE, trusted_proxy_hops=1, session_signing_key=KEY))


@pytest.fixture
def limiter():
    return MemoryRateLimits()  # its clock stands still unless a test moves it


@pytest.fixture
def upload(fakes, limiter):
    return function_client("upload_url", fakes, limiter)


@pytest.fixture
def status(fakes, limiter):
    return function_client("job_status", fakes, limiter)


def post(client, body, ip="203.0.113.7", **headers):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    headers.setdefault("Content-Type", "application/json")
    return client.post("/", data=data, headers={"X-Forwarded-For": ip, **headers})


def session_from(upload, ip: str) -> str:
    """A session the server issued, fetched from another address (sessions are not tied to one)."""
    response = post(upload, PHOTO, ip=ip)
    assert response.status_code == 201
    return response.get_json()["session_id"]


def test_a_store_origin_gets_a_grant_for_a_server_named_object(upload, fakes):
    response = post(upload, PHOTO, Origin=STORE)
    assert response.status_code == 201
    assert response.headers["Access-Control-Allow-Origin"] == STORE
    grant = response.get_json()
    assert re.fullmatch(r"[0-9a-f]{32}", grant["job_id"]), grant["job_id"]
    assert f"/uploads/{grant['job_id']}?" in grant["upload_url"]
    assert grant["headers"] == {"Content-Type": "image/jpeg", "x-goog-content-length-range": "0,2000000"}
    # A new session, signed by the server; the job records the id inside it.
    assert Sessions(KEY, 60).verify(grant["session_id"]) == fakes.jobs.get(grant["job_id"]).session_id != ""


def test_a_valid_session_is_kept_and_anything_else_is_replaced(upload, fakes):
    token = session_from(upload, "192.0.2.1")
    again = post(upload, {**PHOTO, "session_id": token}).get_json()
    assert again["session_id"] == token
    expired = Sessions(KEY, 60, clock=lambda: time.time() - 24 * 3600 - 60).issue()[1]
    forged = Sessions("another-key-" + "x" * 32, 60).issue()[1]
    for sent in ("s1", "made-up-by-the-client", expired, forged, token + "x"):
        grant = post(upload, {**PHOTO, "session_id": sent}).get_json()
        assert grant["session_id"] not in ("", sent, token)
        assert fakes.jobs.get(grant["job_id"]).session_id == Sessions(KEY, 60).verify(grant["session_id"])


def test_another_origin_is_refused_and_gets_no_cors_headers(upload):
    response = post(upload, PHOTO, Origin="http://evil.test")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = upload.options("/", headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 403 and "Access-Control-Allow-Origin" not in preflight.headers


def test_the_store_origin_passes_the_preflight(upload):
    preflight = upload.options("/", headers={"Origin": STORE, "Access-Control-Request-Method": "POST",
                                             "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == STORE
    assert "Retry-After" in preflight.headers["Access-Control-Expose-Headers"]


def test_a_session_gets_its_burst_then_429_with_retry_after(upload, limiter):
    token = session_from(upload, "192.0.2.1")
    # Each request from its own IP, so only the session limit (20/min, burst 10) applies.
    codes = [post(upload, {**PHOTO, "session_id": token}, ip=f"198.51.100.{i}").status_code for i in range(11)]
    assert codes == [201] * 10 + [429]
    refused = post(upload, {**PHOTO, "session_id": token}, ip="198.51.100.99", Origin=STORE)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "3"
    assert refused.headers["Access-Control-Allow-Origin"] == STORE  # the page can read the 429
    other = session_from(upload, "192.0.2.2")
    assert post(upload, {**PHOTO, "session_id": other}, ip="198.51.100.98").status_code == 201
    limiter.now += 3.0  # one token back (20 a minute)
    assert post(upload, {**PHOTO, "session_id": token}, ip="198.51.100.97").status_code == 201


def test_a_new_made_up_session_per_request_gets_one_sessions_allowance(upload, limiter):
    # The walk-around of issue 11: a fresh client-made id each time used to reset the session limit.
    codes = [post(upload, {**PHOTO, "session_id": f"fresh{i}"}).status_code for i in range(11)]
    assert codes == [201] * 10 + [429]
    refused = post(upload, {**PHOTO, "session_id": "fresh-again"})
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "3"  # the session rate, not the IP's
    assert post(upload, PHOTO).status_code == 429  # sending none is the same bucket
    limiter.now += 0.6  # the address has a token back (100 a minute), a session would not
    assert post(upload, {**PHOTO, "session_id": "fresh-later"}).status_code == 429
    limiter.now += 2.4  # 3 s: one session's token
    assert [post(upload, {**PHOTO, "session_id": f"late{i}"}).status_code for i in range(2)] == [201, 429]
    assert post(upload, PHOTO, ip="203.0.113.8").status_code == 201  # another address has its own


def test_an_ip_gets_its_burst_then_429_whatever_the_session(upload, limiter):
    tokens = [session_from(upload, f"192.0.2.{i}") for i in range(12)]
    codes = [post(upload, {**PHOTO, "session_id": t}).status_code for t in tokens[:11]]
    assert codes == [201] * 10 + [429]
    assert post(upload, {**PHOTO, "session_id": tokens[11]}).headers["Retry-After"] == "1"
    limiter.now += 0.6  # 100 a minute: a token every 0.6 s
    assert post(upload, {**PHOTO, "session_id": tokens[11]}).status_code == 201


def test_ipv6_clients_count_by_their_64(upload, limiter):
    tokens = [session_from(upload, f"192.0.2.{i}") for i in range(12)]
    # A new address inside one /64 for every request, each with a valid session: the IP limit holds.
    codes = [post(upload, {**PHOTO, "session_id": t}, ip=f"2001:db8:aa:bb::{i + 1:x}").status_code
             for i, t in enumerate(tokens[:11])]
    assert codes == [201] * 10 + [429]
    assert post(upload, {**PHOTO, "session_id": tokens[11]}, ip="2001:db8:aa:bb:ffff:1:2:3").status_code == 429
    assert post(upload, {**PHOTO, "session_id": tokens[11]}, ip="2001:db8:aa:bc::1").status_code == 201  # next /64


def test_ipv6_rotation_with_made_up_sessions_gets_one_sessions_allowance(upload):
    codes = [post(upload, {**PHOTO, "session_id": f"x{i}"}, ip=f"2001:db8:aa:bb:{i:x}::1").status_code
             for i in range(11)]
    assert codes == [201] * 10 + [429]


def test_status_polls_count_against_the_verified_session(upload, status):
    token = session_from(upload, "192.0.2.1")
    polls = [post(status, {"job_id": "0" * 32, "session_id": token}, ip=f"198.51.100.{i}").status_code
             for i in range(11)]
    assert polls == [404] * 10 + [429]
    made_up = [post(status, {"job_id": "0" * 32, "session_id": f"m{i}"}, ip="203.0.113.50").status_code
               for i in range(11)]
    assert made_up == [404] * 10 + [429]


def test_garbage_counts_against_the_ip_too(upload):
    codes = [post(upload, b"{not json").status_code for _ in range(11)]
    assert codes == [400] * 10 + [429]


def test_the_left_of_x_forwarded_for_is_the_clients_word_and_not_trusted(upload):
    codes = [post(upload, PHOTO, ip=f"10.0.0.{i}, 203.0.113.7").status_code for i in range(11)]
    assert codes[-1] == 429


@pytest.mark.parametrize("body, status, reason", [
    (b"{not json", 400, "malformed_json"),
    (b"[" * 2000 + b"]" * 2000, 400, "malformed_json"),
    (json.dumps({**PHOTO, "admin": True}), 400, "bad_request"),
    (json.dumps({**PHOTO, "size": "2000000"}), 400, "bad_request"),
    (json.dumps({**PHOTO, "size": True}), 400, "bad_request"),
    (json.dumps({**PHOTO, "session_id": "x" * 5000}), 413, "body_too_large"),
    (json.dumps({**PHOTO, "session_id": "../../etc"}), 400, "bad_request"),
    (json.dumps({**PHOTO, "content_type": "text/plain"}), 400, "unsupported_type"),
    (json.dumps({**PHOTO, "size": 31 * 1024 * 1024}), 400, "too_large"),
    (json.dumps([1, 2]), 400, "bad_request"),
    (b"", 400, "bad_request"),
])
def test_bad_bodies_get_a_4xx_reason_and_no_stack_trace(upload, body, status, reason):
    response = post(upload, body)
    assert (response.status_code, response.get_json()["error"]) == (status, reason)
    assert "Traceback" not in response.get_data(as_text=True)


def test_json_must_be_declared_so_cross_site_forms_cannot_post(upload):
    response = post(upload, json.dumps(PHOTO), **{"Content-Type": "text/plain"})
    assert response.status_code == 415


def test_a_huge_body_is_refused_by_its_declared_length(upload):
    response = post(upload, b"{" + b" " * 10_000_000 + b"}")
    assert response.status_code == 413


def test_only_post_creates_uploads(upload):
    assert upload.get("/").status_code == 405


def test_status_reveals_nothing_for_unknown_malformed_or_missing_ids(status):
    answers = [post(status, body) for body in ({"job_id": "0" * 32}, {"job_id": "../jobs"}, {})]
    assert {(r.status_code, r.get_data(as_text=True)) for r in answers} == {(404, '{"error": "not_found"}')}


def test_status_is_posted_so_the_job_id_stays_out_of_urls(upload, status):
    grant = post(upload, PHOTO).get_json()
    asked = {"job_id": grant["job_id"], "session_id": grant["session_id"]}
    assert status.get("/", query_string=asked).status_code == 405
    assert post(status, asked).status_code == 200


def test_status_refuses_unknown_fields(status):
    assert post(status, {"job_id": "0" * 32, "list": "1"}).status_code == 400
    assert post(status, {"job_id": "0" * 32, "session_id": "a b"}).status_code == 400


def test_status_answers_only_the_session_that_created_the_job(upload, status):
    grant = post(upload, PHOTO).get_json()
    mine = post(status, {"job_id": grant["job_id"], "session_id": grant["session_id"]})
    assert mine.status_code == 200
    body = mine.get_json()
    assert body["state"] == "awaiting_upload" and body["result_url"] is None and "cache_hit" not in body
    unknown = post(status, {"job_id": "0" * 32, "session_id": grant["session_id"]})
    other = session_from(upload, "192.0.2.9")
    for session in (other, "", "s1", grant["session_id"] + "x"):  # another's, none, made up, tampered
        answer = post(status, {"job_id": grant["job_id"], "session_id": session})
        assert (answer.status_code, answer.get_data()) == (404, unknown.get_data()), session


def test_a_session_signed_with_the_previous_key_is_honoured_during_a_rotation(fakes, limiter):
    """docs/secrets.md: the new key signs, the previous one still verifies, until it is removed."""
    upload = function_client("upload_url", fakes, limiter)
    grant = post(upload, PHOTO).get_json()  # signed with KEY
    new_key = "rotated-session-key-" + "n" * 32
    rotating = FakeAdapters(settings=fakes.settings.model_copy(
        update={"session_signing_key": new_key, "session_signing_key_previous": KEY}), jobs=fakes.jobs)
    during = function_client("job_status", rotating, limiter)
    assert post(during, {"job_id": grant["job_id"], "session_id": grant["session_id"]}).status_code == 200
    fresh = post(function_client("upload_url", rotating, limiter), PHOTO).get_json()["session_id"]
    assert Sessions(new_key, 60).verify(fresh) and not Sessions(KEY, 60).verify(fresh)  # the new key signs
    after = FakeAdapters(settings=fakes.settings.model_copy(update={"session_signing_key": new_key}),
                         jobs=fakes.jobs)
    finished = function_client("job_status", after, limiter)
    assert post(finished, {"job_id": grant["job_id"], "session_id": grant["session_id"]}).status_code == 404
