"""Shopper sessions the server issues: a random id, signed and timestamped.

A session id only counts when this server signed it and it is younger than its
TTL; anything else (made up by the client, forged, expired) is no session at
all, so a client cannot reset its own rate limit by inventing a new id.
itsdangerous' TimestampSigner does the HMAC and the expiry:
https://itsdangerous.palletsprojects.com/en/stable/timed/

A session also owns what it created: a job answers its own session only (`owns`), so the job
id, which is in signed URLs' paths and in logs, is a name and never a key.

Rotation (docs/secrets.md): during one, the previous key still verifies and the new one signs
(itsdangerous takes the keys oldest first and signs with the last:
https://itsdangerous.palletsprojects.com/en/stable/concepts/#key-rotation).
"""

from __future__ import annotations

import hmac
import time
import uuid

from itsdangerous import BadSignature, TimestampSigner

SALT = "pet-upload.session"  # keys this signer's HMAC to sessions only
MIN_KEY_CHARS = 32


class _Signer(TimestampSigner):
    def __init__(self, keys: list[str], clock):
        super().__init__(keys, salt=SALT)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock())


class Sessions:
    """Issues and checks signed session ids. With no key configured there are no
    sessions: nothing is issued and every id counts as none (the stricter limit)."""

    def __init__(self, key: str, ttl_seconds: int, clock=time.time, previous_key: str = ""):
        for k in (key, previous_key):
            if k and len(k) < MIN_KEY_CHARS:
                raise ValueError(f"a session signing key needs at least {MIN_KEY_CHARS} characters")
        keys = [k for k in (previous_key, key) if k]  # oldest first: the last one signs
        self._signer = _Signer(keys, clock) if key else None
        self._ttl = ttl_seconds

    @property
    def enabled(self) -> bool:
        return self._signer is not None

    def issue(self) -> tuple[str, str]:
        """A new session: (its id, the signed token the client sends back); ("", "") when off."""
        if self._signer is None:
            return "", ""
        session_id = uuid.uuid4().hex
        return session_id, self._signer.sign(session_id).decode()

    def verify(self, token: str) -> str | None:
        """The session's id inside a token this server signed within its TTL, else None."""
        if self._signer is None or not token:
            return None
        try:
            # SignatureExpired (a BadSignature) also covers a timestamp from the future.
            return self._signer.unsign(token, max_age=self._ttl).decode()
        except (BadSignature, UnicodeDecodeError):
            return None


def owns(owner_id: str, session: str | None) -> bool:
    """Whether `session` (a verified session id, or None) is the session that created the thing
    whose owner is `owner_id`. In constant time, so the answer's timing says nothing of how much
    matched; a thing with no owner (made with sessions off) answers nobody."""
    if not owner_id or not session:
        return False
    return hmac.compare_digest(owner_id.encode(), session.encode())
