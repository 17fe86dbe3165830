"""A recording stand-in for the Cloud Scheduler v1 REST API, for the real client.

`CloudSchedulerClient(transport="rest", credentials=AnonymousCredentials(),
client_options=ClientOptions(api_endpoint=fake.url))` talks to it. It keeps jobs
in memory as the JSON the client sent (plus the fields the service adds: state,
userUpdateTime, a User-Agent header) and records every request, so a test can
assert what a run changed. Enough of the API for `scheduler apply`: list, get,
create, patch with updateMask, delete, and :run.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_JOBS = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+)/jobs$")
_JOB = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+/jobs/[^/:]+)(:run)?$")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict
    body: dict | None


def _camel(path: str) -> str:
    head, *rest = path.split("_")
    return head + "".join(word.title() for word in rest)


class FakeCloudScheduler:
    def __init__(self):
        self.jobs: dict[str, dict] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeCloudScheduler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def writes(self) -> list[Request]:
        """The requests that changed something (create, update, delete)."""
        return [r for r in self.requests if r.method in ("POST", "PATCH", "DELETE") and not r.path.endswith(":run")]

    def _stored(self, job: dict) -> dict:
        job = dict(job, state="ENABLED", userUpdateTime=datetime.now(timezone.utc).isoformat())
        if "httpTarget" in job:
            target = dict(job["httpTarget"])
            target["headers"] = {**target.get("headers", {}), "User-Agent": "Google-Cloud-Scheduler"}
            job["httpTarget"] = target
        return job

    def _handle(self, method: str, raw_path: str, body: dict | None) -> tuple[int, dict]:
        split = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        with self._lock:
            self.requests.append(Request(method, split.path, query, body))
            if m := _JOBS.match(split.path):
                parent = m.group(1)
                if method == "GET":
                    return 200, {"jobs": [j for n, j in sorted(self.jobs.items()) if n.startswith(parent + "/")]}
                if method == "POST":
                    name = body.get("name", "")
                    if not name.startswith(parent + "/jobs/"):
                        return 400, {"error": {"code": 400, "message": "job name must be under the parent"}}
                    if name in self.jobs:
                        return 409, {"error": {"code": 409, "message": "job exists", "status": "ALREADY_EXISTS"}}
                    self.jobs[name] = self._stored(body)
                    return 200, self.jobs[name]
            elif m := _JOB.match(split.path):
                name, run = m.group(1), m.group(2)
                if name not in self.jobs:
                    return 404, {"error": {"code": 404, "message": "job not found", "status": "NOT_FOUND"}}
                if run and method == "POST":
                    return 200, self.jobs[name]
                if method == "GET":
                    return 200, self.jobs[name]
                if method == "DELETE":
                    del self.jobs[name]
                    return 200, {}
                if method == "PATCH":
                    paths = [p for p in query.get("updateMask", "").split(",") if p]
                    job = dict(self.jobs[name])
                    for path in paths or list(body):
                        key = _camel(path.split(".")[0])
                        if key in body:
                            job[key] = body[key]
                        else:
                            job.pop(key, None)
                    self.jobs[name] = self._stored(job)
                    return 200, self.jobs[name]
        return 404, {"error": {"code": 404, "message": f"no route {method} {split.path}"}}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null") if length else None
                status, payload = fake._handle(method, self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def do_PATCH(self):
                self._serve("PATCH")

            def do_DELETE(self):
                self._serve("DELETE")

            def log_message(self, *args):
                pass

        return Handler
