"""In-memory stand-ins for the adapters' abcs, for unit tests (cosmicpython style)."""

from __future__ import annotations

import copy
import threading
from datetime import datetime, timedelta, timezone

from adapters.blobs import BlobStore, Encoded, NotFound, TooLarge
from adapters.jobs import JobRepository
from adapters.leases import LeaseStore
from adapters.messages import Publisher
from domain.jobs import Job


class FakeJobs(JobRepository):
    """Copies in and out, and a lock for `update`, like a Firestore transaction."""

    def __init__(self):
        self.jobs: dict[str, Job] = {}
        self.writes = 0
        self._lock = threading.Lock()

    def create(self, job: Job) -> None:
        with self._lock:
            if job.job_id in self.jobs:
                raise KeyError(job.job_id)
            self.jobs[job.job_id] = copy.deepcopy(job)

    def get(self, job_id: str) -> Job | None:
        return copy.deepcopy(self.jobs.get(job_id))

    def update(self, job_id, mutate):
        with self._lock:
            if job_id not in self.jobs:
                return None, False
            job = copy.deepcopy(self.jobs[job_id])
            changed = mutate(job)
            if changed:
                self.jobs[job_id] = job
                self.writes += 1
            return copy.deepcopy(job), changed

    # The queries: filters over the stored jobs' fields, as Firestore's are (a job
    # without the timestamp is left out, as a query on a missing field leaves it out).
    def _stamped(self, stage: str) -> list[tuple[datetime, Job]]:
        return [(job.timestamps[stage], job) for job in self.jobs.values() if stage in job.timestamps]

    def last_job_finished_at(self):
        return max((at for at, _ in self._stamped("done")), default=None)

    def uploads_between(self, start, end):
        return sorted(at for at, _ in self._stamped("queued") if start <= at < end)

    def jobs_done_since(self, since):
        return sum(1 for at, _ in self._stamped("done") if at >= since)

    def cache_hits_since(self, since):
        saved = [job.gpu_seconds_saved for at, job in self._stamped("done") if job.cache_hit and at >= since]
        return len(saved), float(sum(saved))


class FakeBlobs(BlobStore):
    def __init__(self):
        self.objects: dict[tuple[str, str], tuple[bytes, str, str]] = {}  # -> (data, content_type, generation)
        self.encodings: dict[tuple[str, str], str] = {}  # Content-Encoding metadata, when set
        self.generation = 1000
        self._lock = threading.RLock()

    def put(self, bucket: str, name: str, data: bytes, content_type: str = "", content_encoding: str = "") -> str:
        with self._lock:
            self.generation += 1
            self.objects[(bucket, name)] = (data, content_type, str(self.generation))
            self.encodings[(bucket, name)] = content_encoding
            return str(self.generation)

    def read(self, bucket, name, generation=None, max_bytes=None):
        entry = self.objects.get((bucket, name))
        if entry is None or (generation and entry[2] != str(generation)):
            raise NotFound(f"{bucket}/{name}#{generation}")
        if encoding := self.encodings.get((bucket, name)):
            raise Encoded(encoding)
        if max_bytes is not None and len(entry[0]) > max_bytes:
            raise TooLarge(len(entry[0]), max_bytes)
        return entry[0]

    def write_once(self, bucket, name, data, content_type):
        with self._lock:  # the if-generation-match=0 precondition
            if (bucket, name) in self.objects:
                return False
            self.put(bucket, name, data, content_type)
            return True

    def exists(self, bucket, name):
        return (bucket, name) in self.objects

    def signed_put_url(self, bucket, name, content_type, max_bytes, ttl):
        return f"https://signed.example/{bucket}/{name}?ct={content_type}", {
            "Content-Type": content_type, "x-goog-content-length-range": f"0,{max_bytes}"}

    def signed_get_url(self, bucket, name, ttl):
        return f"https://signed.example/{bucket}/{name}?get"


class FakePublisher(Publisher):
    def __init__(self):
        self.messages: list[tuple[str, bytes, dict]] = []
        self._lock = threading.Lock()

    def publish(self, topic, data, **attributes):
        with self._lock:
            self.messages.append((topic, data, attributes))
            return str(len(self.messages))

    def on(self, topic: str) -> list[bytes]:
        return [data for t, data, _ in self.messages if t == topic]


class FakeLeases(LeaseStore):
    def __init__(self):
        self.leases: dict[str, dict] = {}
        self._lock = threading.Lock()

    def acquire(self, key, holder, seconds):
        with self._lock:
            now = datetime.now(timezone.utc)
            lease = self.leases.get(key, {"attempt": 0})
            if lease.get("holder") and lease["until"] > now and lease["holder"] != holder:
                return None
            self.leases[key] = {"holder": holder, "until": now + timedelta(seconds=seconds),
                                "attempt": lease["attempt"] + 1}
            return self.leases[key]["attempt"]

    def renew(self, key, holder, seconds):
        with self._lock:
            lease = self.leases.get(key, {})
            if lease.get("holder") != holder:
                return False
            lease["until"] = datetime.now(timezone.utc) + timedelta(seconds=seconds)
            return True

    def release(self, key, holder):
        with self._lock:
            if self.leases.get(key, {}).get("holder") == holder:
                self.leases[key]["holder"] = ""

    def held(self, key):
        lease = self.leases.get(key, {})
        return bool(lease.get("holder")) and lease["until"] > datetime.now(timezone.utc)
