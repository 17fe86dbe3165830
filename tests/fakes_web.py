"""In-memory stand-ins for the adapters, for tests that drive main.py's targets
without emulators (fuzzing, HTTP behaviour). They keep the abcs' contracts."""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from adapters.blobs import BlobStore, NotFound
from adapters.jobs import JobRepository
from adapters.messages import Publisher
from adapters.rate_limits import RateLimiter
from domain.jobs import Job
from functions.rate_limit import Bucket, Decision, Limit, take_all
from settings import Settings


class MemoryJobs(JobRepository):
    def __init__(self):
        self.docs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def create(self, job: Job) -> None:
        with self._lock:
            if job.job_id in self.docs:
                raise KeyError(f"job {job.job_id} exists")
            self.docs[job.job_id] = copy.deepcopy(job)

    def get(self, job_id: str) -> Job | None:
        job = self.docs.get(job_id)
        return copy.deepcopy(job) if job else None

    def update(self, job_id, mutate):
        with self._lock:
            if job_id not in self.docs:
                return None, False
            job = copy.deepcopy(self.docs[job_id])
            changed = mutate(job)
            if changed:
                self.docs[job_id] = copy.deepcopy(job)
            return job, changed


class MemoryBlobs(BlobStore):
    def __init__(self):
        self.objects: dict[tuple[str, str], tuple[bytes, str, int]] = {}

    def put(self, bucket: str, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        generation = len(self.objects) + 1
        self.objects[(bucket, name)] = (data, content_type, generation)
        return str(generation)

    def read(self, bucket, name, generation=None):
        if (bucket, name) not in self.objects:
            raise NotFound(f"gs://{bucket}/{name}")
        data, _, gen = self.objects[(bucket, name)]
        if generation and str(gen) != str(generation):
            raise NotFound(f"gs://{bucket}/{name}#{generation}")
        return data

    def write_once(self, bucket, name, data, content_type):
        if (bucket, name) in self.objects:
            return False
        self.put(bucket, name, data, content_type)
        return True

    def exists(self, bucket, name):
        return (bucket, name) in self.objects

    def signed_put_url(self, bucket, name, content_type, max_bytes, ttl: timedelta):
        headers = {"Content-Type": content_type, "x-goog-content-length-range": f"0,{max_bytes}"}
        return f"http://storage.test/{bucket}/{name}?X-Goog-Signature=fake", headers

    def signed_get_url(self, bucket, name, ttl):
        return f"http://storage.test/{bucket}/{name}?X-Goog-Signature=fake"


class MemoryPublisher(Publisher):
    def __init__(self):
        self.sent: list[tuple[str, bytes, dict]] = []

    def publish(self, topic, data, **attributes):
        self.sent.append((topic, data, attributes))
        return str(len(self.sent))


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
    leases: object = None
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
