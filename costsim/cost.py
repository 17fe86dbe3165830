"""What the pipeline costs: plain arithmetic over prices.yaml, no cloud calls.

The GPU service is billed per instance-second (instance-based billing: GPU,
vCPU and memory for the whole life of an instance, start-up and idle time
before scale-down included). Everything else is billed per job: function
invocations, Pub/Sub requests, Firestore writes and reads, Cloud Storage
operations and storage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

PRICES_FILE = Path(__file__).with_name("prices.yaml")
TIB = 2**40
GB = 10**9
DAYS_PER_MONTH = 30.4


@dataclass(frozen=True)
class Prices:
    gpu_second: float
    vcpu_second: float
    gib_second: float
    fn_request: float
    fn_vcpu_second: float
    fn_gib_second: float
    pubsub_tib: float
    pubsub_min_bytes: float
    firestore_write: float
    firestore_read: float
    gcs_class_a: float
    gcs_class_b: float
    gcs_gb_month: float


def load_prices(path: Path | str = PRICES_FILE) -> Prices:
    raw = yaml.safe_load(Path(path).read_text())

    def v(group: str, key: str) -> float:
        return float(raw[group][key]["value"])

    return Prices(
        gpu_second=v("cloud_run_gpu", "gpu_l4_second"), vcpu_second=v("cloud_run_gpu", "vcpu_second"),
        gib_second=v("cloud_run_gpu", "gib_second"), fn_request=v("functions", "request"),
        fn_vcpu_second=v("functions", "vcpu_second"), fn_gib_second=v("functions", "gib_second"),
        pubsub_tib=v("pubsub", "tib"), pubsub_min_bytes=v("pubsub", "min_bytes_per_request"),
        firestore_write=v("firestore", "write"), firestore_read=v("firestore", "read"),
        gcs_class_a=v("storage", "class_a"), gcs_class_b=v("storage", "class_b"),
        gcs_gb_month=v("storage", "gb_month"),
    )


@dataclass(frozen=True)
class InstanceShape:
    """The GPU service's instance: an L4 needs at least 4 vCPU and 16 GiB."""

    gpus: int = 1
    vcpu: float = 4
    memory_gib: float = 16


@dataclass(frozen=True)
class JobFootprint:
    """What one image costs outside the GPU service, counted from the pipeline
    (topology.yaml): upload_url, intake, two job events, about five status polls."""

    function_invocations: int = 9
    function_seconds: float = 0.2      # per invocation, at the size below
    function_vcpu: float = 1.0
    function_memory_gib: float = 0.5
    pubsub_requests: int = 8           # gcs-events, segment-requests, 2 job events: publish + push each
    pubsub_bytes: int = 1000           # each message is small: the 1,000-byte minimum applies
    firestore_writes: int = 6          # job create, queued, started, done, lease take and release
    firestore_reads: int = 8           # status polls and transaction reads
    gcs_class_a: int = 2               # upload, cut-out write
    gcs_class_b: int = 3               # intake check, GPU read, shopper download
    upload_mb: float = 4.0             # kept 7 days (uploads bucket lifecycle)
    upload_days: float = 7
    result_mb: float = 3.0             # kept 30 days (results bucket lifecycle)
    result_days: float = 30


@dataclass
class CostBreakdown:
    gpu: float = 0.0
    cpu: float = 0.0
    memory: float = 0.0
    functions: float = 0.0
    pubsub: float = 0.0
    firestore: float = 0.0
    storage: float = 0.0

    @property
    def instances(self) -> float:
        return self.gpu + self.cpu + self.memory

    @property
    def per_job(self) -> float:
        return self.functions + self.pubsub + self.firestore + self.storage

    @property
    def total(self) -> float:
        return self.instances + self.per_job

    def __add__(self, other: CostBreakdown) -> CostBreakdown:
        return CostBreakdown(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


def billed_seconds(seconds: float) -> float:
    """Cloud Run rounds billable time up to the next 100 ms."""
    return math.ceil(round(seconds * 10, 6)) / 10


def instance_cost(seconds: float, prices: Prices, shape: InstanceShape = InstanceShape()) -> CostBreakdown:
    """One instance up for `seconds` (start-up, work and idle alike)."""
    s = billed_seconds(seconds)
    return CostBreakdown(gpu=s * shape.gpus * prices.gpu_second, cpu=s * shape.vcpu * prices.vcpu_second,
                         memory=s * shape.memory_gib * prices.gib_second)


def jobs_cost(jobs: int, prices: Prices, footprint: JobFootprint = JobFootprint(),
              extra_invocations: int = 0) -> CostBreakdown:
    """Per-job services for `jobs` images, plus extra function invocations (pre-warm ticks)."""
    f = footprint
    invocations = jobs * f.function_invocations + extra_invocations
    per_invocation = (prices.fn_request + f.function_seconds
                      * (f.function_vcpu * prices.fn_vcpu_second + f.function_memory_gib * prices.fn_gib_second))
    stored_gb_months = (f.upload_mb * f.upload_days + f.result_mb * f.result_days) * 1e6 / GB / DAYS_PER_MONTH
    return CostBreakdown(
        functions=invocations * per_invocation,
        pubsub=jobs * f.pubsub_requests * max(f.pubsub_bytes, prices.pubsub_min_bytes) / TIB * prices.pubsub_tib,
        firestore=jobs * (f.firestore_writes * prices.firestore_write + f.firestore_reads * prices.firestore_read),
        storage=jobs * (f.gcs_class_a * prices.gcs_class_a + f.gcs_class_b * prices.gcs_class_b
                        + stored_gb_months * prices.gcs_gb_month),
    )


def total_cost(instance_lifetimes: list[float], jobs: int, prices: Prices, *, shape: InstanceShape = InstanceShape(),
               footprint: JobFootprint = JobFootprint(), extra_invocations: int = 0) -> CostBreakdown:
    """Everything: each GPU instance's lifetime in seconds, and the per-job services."""
    out = jobs_cost(jobs, prices, footprint, extra_invocations)
    for seconds in instance_lifetimes:
        out = out + instance_cost(seconds, prices, shape)
    return out
