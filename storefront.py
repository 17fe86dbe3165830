"""What a storefront does, in Python: ask for a signed URL, PUT the photo
straight to Cloud Storage, then follow the job to its end.

The shopper's side of the public API, as web/pet-upload.js does it in a browser: the local
stack's demo and CLI drive it, and the release gate (validation/) drives it against a real
staging or production URL, so it knows nothing of the local stack."""

from __future__ import annotations

import contextlib
import mimetypes
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

FINAL = {"done", "failed", "rejected"}


@dataclass
class Outcome:
    file: str
    job_id: str = ""
    status: str = ""
    reason: str = ""
    result: str = ""
    timings: dict = field(default_factory=dict)

    def row(self) -> dict:
        return {"file": self.file, "job_id": self.job_id, "status": self.status, "reason": self.reason,
                "result": self.result, "timings": self.timings}


class Storefront:
    """One shopper's HTTP client. `retries` and `max_retry_after` (seconds): how often and how long
    a 429 is waited out; `headers`: sent with every call to the functions (not with the PUT).
    validation/client.Shopper is this client with its own values and errors."""

    def __init__(self, upload_url_endpoint: str, status_endpoint: str, session: requests.Session | None = None,
                 *, retries: int = 5, max_retry_after: float = 10.0, headers: dict[str, str] | None = None):
        self.upload_url_endpoint = upload_url_endpoint
        self.status_endpoint = status_endpoint
        self.http = session or requests.Session()
        self.session_id = ""  # the signed session upload_url issued; sent back as the widget does
        self._first_grant = threading.Lock()  # concurrent first uploads must not each start a session
        self.retries, self.max_retry_after = retries, max_retry_after
        self.headers = dict(headers or {})

    def _polite(self, method: str, url: str, retries: int | None = None, **kwargs) -> requests.Response:
        """A request that waits out a 429 as the page's widget does (Retry-After), a few times."""
        for _ in range(self.retries if retries is None else retries):
            response = self.http.request(method, url, timeout=30, headers=self.headers, **kwargs)
            if response.status_code != 429:
                return response
            time.sleep(min(float(response.headers.get("Retry-After", "1")), self.max_retry_after))
        return response

    def grant(self, content_type: str, size: int, **options) -> dict:
        """upload_url's grant, in this shopper's session (the first grant's, which every job of the
        shopper then belongs to: a job answers only its session). Raises UploadRefused."""
        with self._first_grant if not self.session_id else contextlib.nullcontext():
            response = self._polite("POST", self.upload_url_endpoint,
                                    json={"content_type": content_type, "size": size,
                                          "session_id": self.session_id, **options})
            if response.status_code != 201:
                raise UploadRefused(response.status_code, response.json().get("error", "error"))
            grant = response.json()
            self.session_id = grant.get("session_id") or self.session_id
        return grant

    def upload(self, data: bytes, content_type: str, **options) -> str:
        """Returns the job id; raises UploadRefused when the function says no."""
        grant = self.grant(content_type, len(data), **options)
        put = self.http.put(grant["upload_url"], data=data, headers=grant["headers"], timeout=120)
        put.raise_for_status()
        return grant["job_id"]

    def status(self, job_id: str) -> dict:
        # POSTed, as the widget does: the job id stays out of URLs.
        response = self._polite("POST", self.status_endpoint, json={"job_id": job_id, "session_id": self.session_id})
        response.raise_for_status()
        return response.json()

    def follow(self, job_id: str, timeout: float = 120.0, every: float = 0.25, on_poll=None) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(job_id)
            if status["state"] in FINAL or time.monotonic() > deadline:
                return status
            if on_poll:
                on_poll()
            time.sleep(every)


class UploadRefused(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


def content_type_of(path: Path) -> str:
    """What a browser would declare: the type its extension suggests."""
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def process(shop: Storefront, path: Path, out_dir: Path, timeout: float = 180.0, on_poll=None, **options) -> Outcome:
    outcome = Outcome(file=str(path))
    try:
        outcome.job_id = shop.upload(path.read_bytes(), content_type_of(path), **options)
    except UploadRefused as refused:
        outcome.status, outcome.reason = "refused", refused.reason
        return outcome
    status = shop.follow(outcome.job_id, timeout=timeout, on_poll=on_poll)
    outcome.status, outcome.reason = status["state"], status["reason"]
    outcome.timings = {**status["stages"], **status["timings"]}
    if status["state"] not in FINAL:
        outcome.status, outcome.reason = status["state"], "timed_out"
    if status.get("result_url"):
        result = shop.http.get(status["result_url"], timeout=60)
        result.raise_for_status()
        extension = options.get("output_format", "png")
        target = out_dir / f"{path.stem}-{path.suffix.lstrip('.')}.{extension}"
        out_dir.mkdir(parents=True, exist_ok=True)
        target.write_bytes(result.content)
        outcome.result = str(target)
    return outcome
