"""HTTP clients of the public endpoints: a shopper (signed-URL upload, job status, result)
and the GPU service's read-only routes (with an ID token where the service is private)."""

from __future__ import annotations

from datetime import datetime

import requests

from storefront import Storefront


class Refused(Exception):
    def __init__(self, status: int, body: str):
        super().__init__(f"{status} {body[:200]}")
        self.status = status


class Shopper(Storefront):
    """One shopper: keeps the session upload_url issues, waits out 429s as the widget does (up to
    6 times, 15 s each); refusals raise Refused with the answer's body."""

    def __init__(self, upload_url: str, job_status: str, forwarded_for: str = ""):
        # X-Forwarded-For is only honoured where the functions trust a proxy hop (TRUSTED_PROXY_HOPS):
        # the load bench's way of being many shoppers from one machine. Deployed, the real address is
        # expected after it (an unconfirmed layout: deploy/functions.py, TRUSTED_PROXY_HOPS).
        super().__init__(upload_url, job_status, retries=6, max_retry_after=15.0,
                         headers={"X-Forwarded-For": forwarded_for} if forwarded_for else {})

    def grant(self, content_type: str, size: int, retries: int = 6) -> dict:
        """A signed PUT URL and its job; raises Refused for any answer but 201."""
        response = self._polite("POST", self.upload_url_endpoint, retries=retries,
                                json={"content_type": content_type, "size": size, "session_id": self.session_id})
        if response.status_code != 201:
            raise Refused(response.status_code, response.text)
        grant = response.json()
        self.session_id = grant.get("session_id") or self.session_id
        return grant

    def put(self, grant: dict, data: bytes) -> None:
        response = self.http.put(grant["upload_url"], data=data, headers=grant["headers"], timeout=300)
        if response.status_code >= 300:
            raise Refused(response.status_code, response.text)

    def upload(self, data: bytes, content_type: str) -> str:
        grant = self.grant(content_type, len(data))
        self.put(grant, data)
        return grant["job_id"]

    def follow(self, job_id: str, timeout: float, every: float = 0.2) -> dict:
        """The job's last status: final, or whatever it was when `timeout` ran out."""
        return super().follow(job_id, timeout, every)


def queued_to_done_seconds(status: dict) -> float | None:
    """Server-side processing time: from the upload's arrival (queued) to done. Polling
    speed and the shopper's own PUT do not count."""
    stamps = status.get("timestamps") or {}
    if "queued" not in stamps or "done" not in stamps:
        return None
    return (datetime.fromisoformat(stamps["done"]) - datetime.fromisoformat(stamps["queued"])).total_seconds()


class GpuService:
    """The GPU service's /health, /ready, /metrics and /segment (the smoke route)."""

    def __init__(self, url: str, id_token: str = ""):
        self.url = url.rstrip("/")
        self.http = requests.Session()
        if id_token:
            self.http.headers["Authorization"] = f"Bearer {id_token}"

    def get(self, path: str, timeout: float = 30) -> requests.Response:
        return self.http.get(self.url + path, timeout=timeout)

    def metrics(self) -> dict[str, float]:
        from prometheus_client.parser import text_string_to_metric_families

        response = self.get("/metrics", timeout=10)
        response.raise_for_status()
        samples = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
        return samples


def fetch_id_token(audience: str) -> str:
    """An ID token for a private Cloud Run service, from the ambient credentials (Cloud Build's
    service account, or `gcloud auth` locally through VALIDATION_GPU_ID_TOKEN instead).
    https://cloud.google.com/run/docs/authenticating/service-to-service"""
    import google.auth.transport.requests
    from google.oauth2 import id_token

    return id_token.fetch_id_token(google.auth.transport.requests.Request(), audience)
