"""In-memory adapters implementing the ports in adapters/ (for unit tests and benchmarks)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from adapters.blobs import BlobStore, NotFound
from adapters.leases import LeaseStore
from adapters.messages import Publisher


class FakeBlobs(BlobStore):
    def __init__(self):
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}
        self._lock = threading.Lock()

    def put(self, bucket: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.objects[(bucket, name)] = (data, content_type)

    def read(self, bucket: str, name: str, generation: str | None = None) -> bytes:
        try:
            return self.objects[(bucket, name)][0]
        except KeyError:
            raise NotFound(f"{bucket}/{name}") from None

    def write_once(self, bucket: str, name: str, data: bytes, content_type: str) -> bool:
        with self._lock:
            if (bucket, name) in self.objects:
                return False
            self.objects[(bucket, name)] = (data, content_type)
            return True

    def exists(self, bucket: str, name: str) -> bool:
        return (bucket, name) in self.objects

    def signed_put_url(self, bucket, name, content_type, max_bytes, ttl: timedelta):
        return f"http://fake/{bucket}/{name}?put", {"Content-Type": content_type}

    def signed_get_url(self, bucket, name, ttl: timedelta):
        return f"http://fake/{bucket}/{name}?get"


class FakeLeases(LeaseStore):
    def __init__(self):
        self.leases: dict[str, tuple[str, float, int]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str, holder: str, seconds: float) -> int | None:
        with self._lock:
            current, until, attempt = self.leases.get(key, ("", 0.0, 0))
            if current and current != holder and until > time.monotonic():
                return None
            self.leases[key] = (holder, time.monotonic() + seconds, attempt + 1)
            return attempt + 1

    def release(self, key: str, holder: str) -> None:
        with self._lock:
            current, _, attempt = self.leases.get(key, ("", 0.0, 0))
            if current == holder:
                self.leases[key] = ("", 0.0, attempt)


class FakePublisher(Publisher):
    def __init__(self):
        self.messages: list[tuple[str, bytes, dict]] = []
        self._lock = threading.Lock()

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        with self._lock:
            self.messages.append((topic, data, attributes))
            return str(len(self.messages))
