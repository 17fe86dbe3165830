"""In-memory stand-ins for the adapters, for tests that drive main.py's targets
without emulators (fuzzing, HTTP behaviour). They keep the abcs' contracts."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from adapters.rate_limits import RateLimiter
from domain.rate_limit import Bucket, Decision, Limit, take_all
from settings import Settings
from tests.fakes import FakeBlobs as MemoryBlobs
from tests.fakes import FakeJobs as MemoryJobs
from tests.fakes import FakeLeases as MemoryLeases
from tests.fakes import FakePublisher as MemoryPublisher


class MemoryRateLimits(RateLimiter):
    """The same token-bucket logic as the Firestore adapter, over a dict and a settable clock."""

    def __init__(self, clock=None):
        self.buckets: dict[str, Bucket] = {}
        self.now = 0.0
        self._clock = clock or (lambda: self.now)
        self._lock = threading.Lock()

    def take(self, limits: dict[str, Limit]) -> Decision:
        with self._lock:
            decision, updated = take_all({k: self.buckets.get(k) for k in limits}, limits, self._clock())
            if decision.allowed:
                self.buckets.update(updated)
            return decision


@dataclass
class FakeAdapters:
    settings: Settings = field(default_factory=Settings)
    jobs: MemoryJobs = field(default_factory=MemoryJobs)
    blobs: MemoryBlobs = field(default_factory=MemoryBlobs)
    publisher: MemoryPublisher = field(default_factory=MemoryPublisher)
    leases: MemoryLeases = field(default_factory=MemoryLeases)
    firestore: object = None


def function_client(target: str, fakes: FakeAdapters, limiter: RateLimiter | None = None):
    """A functions-framework test client for a main.py target, wired to fakes.

    create_app loads main.py as a fresh module each time; patching that module's
    globals gives its targets the fakes instead of real clients.
    """
    import sys
    from pathlib import Path

    import functions_framework

    app = functions_framework.create_app(target, str(Path(__file__).resolve().parent.parent / "main.py"))
    module = sys.modules.pop("main")  # patched below: later `import main` must not get this copy
    module.adapters = lambda: fakes
    module.rate_limiter = lambda: limiter or MemoryRateLimits()
    module.get_settings = lambda: fakes.settings
    client = app.test_client()
    client.main_module = module  # this target's own, patched copy of main.py
    return client
