"""What every check is handed: the target, its thresholds, its clients, and what earlier
checks left for later ones (jobs done, memory read while loaded)."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field

from validation.client import GpuService, Shopper
from validation.targets import Endpoints, Threshold


@dataclass
class Context:
    target: str
    endpoints: Endpoints
    limits: dict[str, Threshold]
    gpu: GpuService
    job_timeout: float = 180.0
    done_jobs: list = field(default_factory=list)  # (shopper, status) of finished jobs, for the results check
    memory: MemorySampler | None = None

    def shopper(self, forwarded_for: str = "") -> Shopper:
        return Shopper(self.endpoints.upload_url, self.endpoints.job_status, forwarded_for)

    def limit(self, name: str):
        return self.limits[name].value

    def scaled(self, name: str) -> str:
        t = self.limits[name]
        return f"x{t.scale}: {t.why_scaled}" if t.why_scaled else ""


class MemorySampler:
    """Reads the GPU service's memory from its /metrics every `every` seconds while load runs:
    process_resident_memory_bytes (the server process's resident memory, prometheus_client's process
    collector). Cloud Run counts more against the limit: the executable, the process's allocations and
    files written to the in-memory file system (https://cloud.google.com/run/docs/configuring/services/memory-limits),
    so this reads low by whatever the service writes to its disk
    and gpu_memory_bytes (device memory the engine reserved). Staging runs one instance (max 1),
    so one instance's metrics are the service's."""

    def __init__(self, gpu: GpuService, every: float = 0.5):
        self.gpu, self.every = gpu, every
        self.peak_rss = 0.0
        self.peak_device = 0.0
        self.samples = 0
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def sample(self) -> None:
        try:
            m = self.gpu.metrics()
        except Exception:
            self.errors += 1
            return
        self.samples += 1
        self.peak_rss = max(self.peak_rss, m.get("process_resident_memory_bytes", 0.0))
        self.peak_device = max(self.peak_device, m.get("gpu_memory_bytes", 0.0))

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)
        self.sample()


def timed(fn):
    """Runs a check, recording its seconds on the verdict."""
    def run(ctx: Context):
        started = time.monotonic()
        verdict = fn(ctx)
        verdict.seconds = round(time.monotonic() - started, 2)
        return verdict
    run.__name__, run.__module__ = fn.__name__, fn.__module__
    run.__doc__ = fn.__doc__ or sys.modules[fn.__module__].__doc__
    return run
