"""The public functions' rate limits where their counters live: the real functions
(functions-framework processes of the local stack) on the Firestore emulator, with
the configured limits and one trusted proxy hop (each request names its client in
X-Forwarded-For, as Google's front end would).

Issue 11's walk-arounds: a new session id per request, a new IPv6 address per
request inside one /64, and Firestore down (adapters.rate_limits.OutagePolicy).
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from adapters.rate_limits import FirestoreRateLimits, OutagePolicy, RateLimitUnavailable
from domain.rate_limit import Limit
from local_stack.stack import Stack
from processes import free_port, patched_environ
from settings import Settings

pytestmark = pytest.mark.integration

DEFAULTS = Settings()  # the configured limits, not the local stack's relaxed ones
BURST = DEFAULTS.rate_limit_burst
LIMITS = {"RATE_LIMIT_IP_PER_MINUTE": str(DEFAULTS.rate_limit_ip_per_minute),
          "RATE_LIMIT_SESSION_PER_MINUTE": str(DEFAULTS.rate_limit_session_per_minute),
          "RATE_LIMIT_BURST": str(BURST), "TRUSTED_PROXY_HOPS": "1",
          # Request threads per function (functions-framework's gunicorn; default 4 a core): with Firestore
          # down, each request the limit lets through waits on the job store, holding one.
          "THREADS": "32"}
PHOTO = {"content_type": "image/jpeg", "size": 1_000_000}


@pytest.fixture(scope="module")
def limits_stack(tmp_path_factory):
    with Stack(workdir=tmp_path_factory.mktemp("limits"), env=LIMITS, functions=["upload_url", "job_status"]) as s:
        yield s


def ask(stack, ip: str, session: str = "", timeout: float = 30) -> requests.Response:
    return requests.post(stack.url("upload_url") + "/", json={**PHOTO, "session_id": session},
                         headers={"X-Forwarded-For": ip}, timeout=timeout)


def sessions_from_many_addresses(stack, n: int) -> list[str]:
    """Genuine sessions, each fetched from its own address (sessions are not tied to one)."""
    net = uuid.uuid4().int % 200 + 20
    return [ask(stack, f"10.{net}.{i // 200}.{i % 200 + 1}").json()["session_id"] for i in range(n)]


def test_an_issued_session_is_accepted_by_the_other_function(limits_stack):
    grant = ask(limits_stack, "192.0.2.10").json()
    token = grant["session_id"]
    assert token.count(".") == 2
    again = ask(limits_stack, "192.0.2.11", token).json()
    assert again["session_id"] == token  # kept, not replaced
    status = requests.post(limits_stack.url("job_status") + "/", json={"job_id": grant["job_id"], "session_id": token},
                           headers={"X-Forwarded-For": "192.0.2.12"}, timeout=30)
    assert status.status_code == 200 and status.json()["state"] == "awaiting_upload"


def test_a_new_made_up_session_per_request_holds_the_session_limit(limits_stack):
    codes = [ask(limits_stack, "198.51.100.20", uuid.uuid4().hex).status_code for _ in range(BURST + 5)]
    assert codes == [201] * BURST + [429] * 5
    refused = ask(limits_stack, "198.51.100.20", uuid.uuid4().hex)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "3"  # 20 a minute: one token every 3 s
    assert refused.json()["error"] == "rate_limited"


def test_a_new_address_per_request_inside_one_64_holds_the_ip_limit(limits_stack):
    tokens = sessions_from_many_addresses(limits_stack, BURST + 5)  # a valid session each: only the IP limit is left
    prefix = f"2001:db8:{uuid.uuid4().int % 0xffff:x}:1"
    codes = [ask(limits_stack, f"{prefix}:{i + 1:x}::{i + 7:x}", token).status_code for i, token in enumerate(tokens)]
    assert codes == [201] * BURST + [429] * 5
    refused = ask(limits_stack, f"{prefix}:ffff:1:2:3", tokens[0])
    # The IP's rate (100 a minute: a token within 0.6 s), not the session's 3 s: the IP limit refused it.
    assert (refused.status_code, refused.headers.get("Retry-After")) == (429, "1")
    assert ask(limits_stack, f"{prefix[:-1]}2::1", tokens[-1]).status_code == 201  # the next /64 is someone else


def test_a_dead_firestore_raises_unavailable_quickly_and_the_policy_still_limits():
    from google.cloud import firestore

    with patched_environ({"FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{free_port()}"}):  # nothing listens there
        counters = FirestoreRateLimits(firestore.Client(project="demo-proj"), "rate_limits")
    limits = {"ip:203.0.113.9": Limit(DEFAULTS.rate_limit_ip_per_minute, BURST)}
    started = time.monotonic()
    with pytest.raises(RateLimitUnavailable):
        counters.take(limits)
    assert time.monotonic() - started < 5.0
    policy = OutagePolicy(counters)
    started = time.monotonic()
    decisions = [policy.take(limits) for _ in range(BURST + 3)]
    assert [d.allowed for d in decisions] == [True] * BURST + [False] * 3
    assert decisions[-1].retry_after >= 1
    assert time.monotonic() - started < 5.0  # one failed read, then the local buckets answer


def test_firestore_going_down_keeps_refusing_keys_over_their_limit_and_bounds_the_rest(limits_stack):
    # Runs last in this module: it stops the stack's Firestore emulator.
    over = "198.51.100.30"
    codes = [ask(limits_stack, over).status_code for _ in range(BURST + 2)]
    assert codes == [201] * BURST + [429] * 2
    limits_stack.children["firestore"].stop()

    started = time.monotonic()
    still = ask(limits_stack, over)
    assert time.monotonic() - started < 10
    assert still.status_code == 429 and int(still.headers["Retry-After"]) >= 1  # closed for a key over its limit

    def attempt(_) -> int | str:
        try:
            response = ask(limits_stack, "198.51.100.31", timeout=8)
        except requests.Timeout:
            return "let through"  # past the limiter, waiting on the job store, which is down too
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
        return response.status_code

    with ThreadPoolExecutor(BURST + 3) as pool:
        outcomes = list(pool.map(attempt, range(BURST + 3)))
    # Bounded open: a new key gets its burst from this instance, and the rest are 429s with Retry-After.
    assert outcomes.count(429) == 3, outcomes
    assert all(o == "let through" or o >= 500 for o in outcomes if o != 429), outcomes  # never a 201: no job store
