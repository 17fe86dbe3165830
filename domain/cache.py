"""Content-addressed reuse of masks: one forward pass per photo, whoever uploads it again.

A mask depends on exactly three things: the uploaded bytes, the engine and the
weights it runs. The key is all three, so an engine or checkpoint change misses
(never serves a mask another model made), and the GPU service and intake each
derive it themselves: if they disagree on the engine's identity, lookups only miss.

What a hit reuses is a silhouette, never a photo: the entry is found only by the
SHA-256 of bytes the new shopper uploaded themself, and their cut-out is rendered
from THEIR upload with that mask (functions/render.py), as a new result object.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# The U^2-Net-p engines refuse any other weights (gpu_service/engines/u2netp.py checks
# gpu_service/engines/weights.py U2NETP_SHA256; u2netp_int8.py its recipe's IDENTITY), so
# each name pins its checksum; a test keeps these equal to the engines'.
PINNED_CHECKSUMS = {"u2netp": "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
                    "u2netp-int8": "cb876616802d47a31049c181c374fdb7e106c6cc159f8cc92e0780c33aa58242"}
ENTRY_PREFIX = "cache/"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


@dataclass(frozen=True)
class EngineIdentity:
    """Which masks an engine makes: its name and its checkpoint's SHA-256."""

    engine: str
    checksum: str

    @classmethod
    def of(cls, engine: str, checksum: str = "") -> EngineIdentity:
        """From settings: an empty checksum falls back to the engine's pin (if it has one)."""
        return cls(engine, (checksum or PINNED_CHECKSUMS.get(engine, "")).lower())

    @property
    def known(self) -> bool:
        """Whether it identifies weights at all: an unknown checksum disables the cache (never a guess)."""
        return bool(_NAME.fullmatch(self.engine) and _HEX64.fullmatch(self.checksum))


def upload_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_key(digest: str, identity: EngineIdentity) -> str:
    """SHA-256 over the upload's digest, the engine's name and its checksum."""
    if not identity.known:
        raise ValueError(f"engine identity {identity} names no checkpoint: the cache is off")
    if not _HEX64.fullmatch(digest):
        raise ValueError("the upload digest must be a SHA-256 in hex")
    return hashlib.sha256(f"{identity.engine}\0{identity.checksum}\0{digest}".encode()).hexdigest()


def entry_name(key: str) -> str:
    """The object in the cache bucket holding the mask for `key`."""
    return f"{ENTRY_PREFIX}{key}.png"


def entry_for(data: bytes, identity: EngineIdentity) -> str | None:
    """The cache entry a mask of `data` lives at, or None when the identity is unknown."""
    return entry_name(cache_key(upload_digest(data), identity)) if identity.known else None
