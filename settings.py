"""One settings object for every process, read from the environment.

Defaults run the local stack; production sets the real names in the deploy.
"""

from functools import lru_cache

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.cache import EngineIdentity
from domain.decode_budget import Budget

MB = 1024 * 1024


# The settings that hold a secret (docs/secrets.md rotates each): never in a log line (adapters/logs.py).
SECRET_FIELDS = ("session_signing_key", "session_signing_key_previous", "rollback_webhook_password",
                 "rollback_webhook_password_previous", "slack_webhook_url")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    google_cloud_project: str = "demo-proj"
    region: str = "us-central1"
    uploads_bucket: str = "pet-uploads"
    results_bucket: str = "pet-results"
    # Masks by content (domain/cache.py): cache/{key}.png, kept as long as results.
    cache_bucket: str = "pet-cache"
    render_topic: str = "render-requests"  # intake -> the render function on a cache hit
    segment_topic: str = "segment-requests"
    job_events_topic: str = "job-events"
    warm_topic: str = "warm-requests"  # a shopper's warm-up, pushed to the GPU service's /warmup
    jobs_collection: str = "jobs"
    job_retention_days: int = 30

    # Uploads: what the storefront may send, checked again by bytes at intake.
    max_upload_bytes: int = 30 * MB
    # 48 MP phone photos pass; a decompression bomb does not.
    max_pixels: int = 64_000_000
    # Decoding budgets come from what is deployed (domain/decode_budget.py has the cost model).
    # Intake's memory: deploy/functions.py deploys intake with this (one number for both).
    intake_memory_mib: int = 1024
    # The render function's memory (deploy/functions.py): a cache hit's decode budgets from it.
    render_memory_mib: int = 2048
    # The GPU service's container memory and concurrency (deploy/service.yaml: memory,
    # containerConcurrency = MAX_PENDING); the model, CUDA's host buffers and the server
    # keep gpu_reserved_mib, and each admitted request may decode within an equal share.
    gpu_memory_mib: int = 31 * 1024  # the gpu container's share; the metrics collector has the rest of 32 GiB
    gpu_reserved_mib: int = 8 * 1024
    # CPU seconds one decode may take: a 48 MP progressive photo needs about 0.5 here,
    # a JPEG with hundreds of repeated scans tens. Intake's 1 GiB instance has 0.583
    # vCPU (https://cloud.google.com/functions/docs/configuring/memory), so this is about
    # 7 s of its 60 s ack deadline.
    decode_cpu_seconds: float = 4.0
    upload_url_ttl_seconds: int = 15 * 60
    # Variants (functions/variant.py) re-decode the original photo: deploy/functions.py deploys
    # the function with this memory and its decode budget is half of it, as intake's is.
    variant_memory_mib: int = 2048
    # Distinct variant specs a job may have (functions/variant.py): each is a CPU render and a stored
    # object. The widget's switches give 4 without a colour; 40 leaves a shopper 18 colours in both effects.
    variant_max_specs: int = 40
    result_url_ttl_seconds: int = 15 * 60
    store_origins: str = "http://localhost:8000,http://127.0.0.1:8000"

    # Public functions: token buckets shared by all instances (Firestore), per
    # function, per client IP and per shopper session.
    rate_limit_ip_per_minute: int = 100
    rate_limit_session_per_minute: int = 20
    rate_limit_burst: int = 10
    rate_limits_collection: str = "rate_limits"
    # Which X-Forwarded-For entry from the end is the caller's: deploy/functions.py sets 1
    # (Google's front end), 2 behind the external load balancer. 0 trusts only the peer address.
    trusted_proxy_hops: int = 0
    # Shopper sessions are signed by the server (domain/sessions.py). The key comes from
    # Secret Manager in production (--set-secrets) and is made per run by the local stack;
    # with none, no session is issued and every request gets the no-session limit.
    session_signing_key: str = ""
    # During a rotation (docs/secrets.md) the key before it still verifies sessions it signed.
    session_signing_key_previous: str = ""
    session_ttl_seconds: int = 24 * 3600

    # Signing: a service-account key file locally; in production the runtime's
    # service account signs through IAM (no key in the code or the image).
    signing_key_file: str = ""
    signing_service_account: str = ""
    # Local stack only: where signed URLs point when the function's own storage calls go
    # elsewhere (the variant reads and writes the emulator, the browser fetches through the
    # CORS front). Empty: the storage client's endpoint.
    signed_url_endpoint: str = ""

    # GPU service
    # CPU: u2netp-int8 (bench/int8_quality.py: cuts as well as fp32 against the truth, about 1.4x
    # faster); the GPU service runs inspyrenet (deploy/service.yaml).
    engine: str = "u2netp-int8"
    # The SHA-256 of the engine's checkpoint, for intake's cache lookups (the GPU service
    # uses the checksum of what it loaded). Empty: the engine's pin (domain/cache.py), and
    # none for an engine without one, which turns cache lookups off.
    engine_checksum: str = ""
    model_dir: str = ".models"
    # A job's lease (Firestore) keeps a redelivery of a job in progress from starting a
    # second forward pass. The worker renews it every lease_renew_seconds (0: a third of
    # the lease) while it works, so a slow job keeps it; a dead worker's lease runs out
    # after lease_seconds and the redelivery takes the job over.
    lease_seconds: float = 120
    lease_renew_seconds: float = 0
    # Work on one push stops after this many seconds: no result is written, the lease is
    # released and Pub/Sub redelivers. Below the service's Cloud Run request timeout and
    # the segment subscription's ack deadline (both 300 s: deploy/service.yaml, topology.yaml),
    # with room left to answer.
    job_deadline_seconds: float = 280
    output_max_side: int = 4096
    # InSPyReNet (ENGINE=inspyrenet): mode base (1024^2) or fast (384^2); a baked-in
    # checkpoint path, or empty for the package's own download into model_dir.
    inspyrenet_mode: str = "base"
    inspyrenet_ckpt: str = ""
    engine_device: str = ""  # empty: CUDA when there is one, else CPU
    engine_fp16: bool = True  # on CUDA only
    # Serving: concurrent pushes share forward passes; past max_pending, shed with 429.
    batch_max_size: int = 8
    batch_max_wait_ms: float = 5.0
    max_pending: int = 16
    shed_retry_after_seconds: int = 10
    # Drills only: seconds added to the model load, as a slow checkpoint read would
    # (the local cold-start rollback drill starts a revision slower than the plan allows).
    model_load_delay_seconds: float = 0.0

    # Budget, scaling and rollback (see scheduler/ and functions/)
    # Empty: the shipped scheduler/schedules.yaml. A path is read on every warm request
    # (functions/warm.py), so a local stack or test can change the windows while it runs.
    schedules_file: str = ""
    gpu_service: str = "pet-cutout-gpu"
    cloud_run_endpoint: str = ""  # empty: the real API; set locally to the stand-in
    gpu_service_url: str = "http://127.0.0.1:8080"

    # Operations: rollback webhook, announcements, known-good revisions.
    # Secrets come only from the environment; in production the function maps
    # them from Secret Manager (`--set-secrets=ROLLBACK_WEBHOOK_PASSWORD=...:latest`).
    # The rollback webhook takes basic auth only; with no credential configured it
    # refuses every call.
    rollback_webhook_user: str = ""
    rollback_webhook_password: str = ""
    # During a rotation (docs/secrets.md) the password before it is still accepted.
    rollback_webhook_password_previous: str = ""
    slack_webhook_url: str = ""
    # Alert policy display names that trigger a rollback: topology.yaml's `rollback: true`
    # conditions (tests/release/test_alerts.py keeps the two equal).
    rollback_policies: str = "gpu-error-rate,gpu-processing-time,gpu-memory-503,gpu-slow-cold-start"
    rollback_window_seconds: int = 30 * 60  # at most one automatic rollback per service per window
    known_good_collection: str = "known_good"
    # Operations state (ops_* collections, known_good) lives in its own Firestore
    # database: IAM conditions on the database name keep the GPU service and the
    # public functions from writing it (infra/access). The emulator serves any name.
    ops_database: str = "ops"
    # Jobs, leases and rate-limit counters. Production keeps them in (default); a second
    # deployment in the same project has its own (staging: jobs-staging, deploy/environments.py).
    jobs_database: str = "(default)"

    # The local alert evaluator multiplies every declared duration by this (tests
    # compress minutes to seconds, as the rollback drill does); thresholds stay.
    alert_time_scale: float = 1.0

    log_level: str = "INFO"

    @model_validator(mode="after")
    def _lease_is_renewed_before_it_ends(self) -> "Settings":
        if self.lease_seconds <= 0 or not 0 < self.lease_renew_interval < self.lease_seconds:
            raise ValueError(f"LEASE_RENEW_SECONDS ({self.lease_renew_seconds}) must be below LEASE_SECONDS "
                             f"({self.lease_seconds}), both positive, or a renewal comes after the lease ran out")
        return self

    @property
    def lease_renew_interval(self) -> float:
        return self.lease_renew_seconds or self.lease_seconds / 3

    @property
    def intake_decode_budget(self) -> Budget:
        """Half of intake's memory for the check: the rest holds the interpreter with main
        imported, the upload's bytes (up to max_upload_bytes) and the framework."""
        return self._half_of(self.intake_memory_mib)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(getattr(self, name) for name in SECRET_FIELDS)

    @property
    def variant_decode_budget(self) -> Budget:
        """Half of the variant function's memory for the photo's decode; the rest holds the
        interpreter, the photo's bytes, the mask and the render (tests/imaging/test_variant_memory.py)."""
        return self._half_of(self.variant_memory_mib)

    @property
    def gpu_decode_budget(self) -> Budget:
        """One admitted request's share of the GPU service's memory; the decode keeps at most
        output_max_side (the one setting for the cut-out's size)."""
        share = (self.gpu_memory_mib - self.gpu_reserved_mib) * MB // max(1, self.max_pending)
        return Budget(memory_bytes=share, cpu_seconds=self.decode_cpu_seconds, max_pixels=self.max_pixels,
                      max_side=self.output_max_side)

    @property
    def render_decode_budget(self) -> Budget:
        """Half the render function's memory for the decode, as intake's check (the rest
        holds the mask, the cut-out and its encoding: measured in docs/cache.md)."""
        return self._half_of(self.render_memory_mib)

    def _half_of(self, memory_mib: int) -> Budget:
        """A function's decode budget: half its deployed memory, the shared CPU and pixel limits."""
        return Budget(memory_bytes=memory_mib * MB // 2, cpu_seconds=self.decode_cpu_seconds,
                      max_pixels=self.max_pixels, max_side=self.output_max_side)

    @property
    def engine_identity(self) -> EngineIdentity:
        return EngineIdentity.of(self.engine, self.engine_checksum)

    @property
    def allowed_origins(self) -> list[str]:
        return [o.strip() for o in self.store_origins.split(",") if o.strip()]

    @property
    def rollback_policy_names(self) -> set[str]:
        return {p.strip() for p in self.rollback_policies.split(",") if p.strip()}


@lru_cache
def get_settings() -> Settings:
    return Settings()
