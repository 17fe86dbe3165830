"""Server-issued sessions: signed, expiring; anything else counts as none."""

import pytest

from domain.sessions import Sessions

KEY = "a-session-key-of-enough-length-000000"


def test_an_issued_session_verifies_to_its_id():
    session_id, token = Sessions(KEY, 60).issue()
    assert len(session_id) == 32 and token.startswith(session_id + ".")
    assert Sessions(KEY, 60).verify(token) == session_id


def test_each_issue_is_a_new_session():
    assert Sessions(KEY, 60).issue()[0] != Sessions(KEY, 60).issue()[0]


@pytest.mark.parametrize("token", ["", "s1", "0" * 32, "a.b.c", "x" * 128, "..", "é"])
def test_client_made_ids_count_as_none(token):
    assert Sessions(KEY, 60).verify(token) is None


def test_a_forged_or_tampered_session_counts_as_none():
    _, token = Sessions("another-key-of-enough-length-0000000", 60).issue()
    assert Sessions(KEY, 60).verify(token) is None
    session_id, good = Sessions(KEY, 60).issue()
    other_id = "f" * 32 if session_id != "f" * 32 else "e" * 32
    assert Sessions(KEY, 60).verify(good.replace(session_id, other_id)) is None  # someone else's id, my signature


def test_a_session_expires_after_its_ttl_and_one_from_the_future_is_refused():
    now = [1_000_000.0]
    sessions = Sessions(KEY, 60, clock=lambda: now[0])
    session_id, token = sessions.issue()
    now[0] += 60
    assert sessions.verify(token) == session_id  # still good at exactly its TTL
    now[0] += 2
    assert sessions.verify(token) is None
    future = Sessions(KEY, 60, clock=lambda: now[0] + 3600).issue()[1]
    assert Sessions(KEY, 60, clock=lambda: now[0]).verify(future) is None


def test_without_a_key_there_are_no_sessions():
    sessions = Sessions("", 60)
    assert not sessions.enabled and sessions.issue() == ("", "")
    assert sessions.verify(Sessions(KEY, 60).issue()[1]) is None


def test_a_short_key_is_refused():
    with pytest.raises(ValueError, match="at least"):
        Sessions("short", 60)
