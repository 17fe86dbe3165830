"""One settings object for every process, read from the environment.

Defaults run the local stack; production sets the real names in the deploy.
"""

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict

MB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    google_cloud_project: str = "demo-proj"
    region: str = "us-central1"
    uploads_bucket: str = "pet-uploads"
    results_bucket: str = "pet-results"
    segment_topic: str = "segment-requests"
    job_events_topic: str = "job-events"
    jobs_collection: str = "jobs"
    job_retention_days: int = 30

    # Uploads: what the storefront may send, checked again by bytes at intake.
    max_upload_bytes: int = 30 * MB
    # 48 MP phone photos pass; a decompression bomb does not.
    max_pixels: int = 64_000_000
    upload_url_ttl_seconds: int = 15 * 60
    result_url_ttl_seconds: int = 15 * 60
    store_origins: str = "http://localhost:8000,http://127.0.0.1:8000"

    # Public functions: token buckets shared by all instances (Firestore), per
    # function, per client IP and per shopper session.
    rate_limit_ip_per_minute: int = 100
    rate_limit_session_per_minute: int = 20
    rate_limit_burst: int = 10
    rate_limits_collection: str = "rate_limits"
    # Proxies in front of the functions that append the client to X-Forwarded-For
    # (Google's front end: 1). 0 trusts only the socket's peer address.
    trusted_proxy_hops: int = 0

    # Signing: a service-account key file locally; in production the runtime's
    # service account signs through IAM (no key in the code or the image).
    signing_key_file: str = ""
    signing_service_account: str = ""

    # GPU service
    engine: str = "u2netp"
    model_dir: str = ".models"
    lease_seconds: int = 120
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
    slack_webhook_url: str = ""
    # Alert policy display names that trigger a rollback: topology.yaml's `rollback: true`
    # conditions (tests/unit/test_alerts.py keeps the two equal).
    rollback_policies: str = "gpu-error-rate,gpu-processing-time,gpu-memory-503,gpu-slow-cold-start"
    rollback_window_seconds: int = 30 * 60  # at most one automatic rollback per service per window
    known_good_collection: str = "known_good"

    # The local alert evaluator multiplies every declared duration by this (tests
    # compress minutes to seconds, as the rollback drill does); thresholds stay.
    alert_time_scale: float = 1.0

    log_level: str = "INFO"

    @property
    def allowed_origins(self) -> list[str]:
        return [o.strip() for o in self.store_origins.split(",") if o.strip()]

    @property
    def rollback_policy_names(self) -> set[str]:
        return {p.strip() for p in self.rollback_policies.split(",") if p.strip()}


@lru_cache
def get_settings() -> Settings:
    return Settings()
