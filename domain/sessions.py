"""Shopper sessions the server issues: a random id, signed and timestamped.

A session id only counts when this server signed it and it is younger than its
TTL; anything else (made up by the client, forged, expired) is no session at
all, so a client cannot reset its own rate limit by inventing a new id.
itsdangerous' TimestampSigner does the HMAC and the expiry:
https://itsdangerous.palletsprojects.com/en/stable/timed/
"""

from __future__ import annotations

import time
import uuid

from itsdangerous import BadSignature, TimestampSigner

SALT = "pet-upload.session"  # keys this signer's HMAC to sessions only
MIN_KEY_CHARS = 32


class _Signer(TimestampSigner):
    def __init__(self, key: str, clock):
        super().__init__(key, salt=SALT)
        self._clock = clock

    def get_timestamp(self) -> int:
        return int(self._clock())


class Sessions:
    """Issues and checks signed session ids. With no key configured there are no
    sessions: nothing is issued and every id counts as none (the stricter limit)."""

    def __init__(self, key: str, ttl_seconds: int, clock=time.time):
        if key and len(key) < MIN_KEY_CHARS:
            raise ValueError(f"the session signing key needs at least {MIN_KEY_CHARS} characters")
        self._signer = _Signer(key, clock) if key else None
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
