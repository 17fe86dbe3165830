"""A local Cloud Run: the part of the Admin API v2 the project calls, and a router.

`python -m local_stack.cloud_run --service S --admin-port A --router-port G ...`

- Admin API on port A, driven by the real `google.cloud.run_v2` client over REST:
  get/update a service (update mask honoured; a template change creates a
  revision, which is a real `uvicorn gpu_service.app:app` process with the
  template's env), list/get revisions, long-running operations (done once the
  new revision answers /ready, as Cloud Run's are).
- Router on port G: the service URL. Requests go to revisions by the traffic
  split (smooth weighted round robin, so 10 % is exactly 1 in 10); a tag's URL is
  `http://127.0.0.1:G/_tag/TAG`. Every request's outcome and latency is kept per
  revision and served at `GET A/_local/stats` (what Cloud Monitoring reports), with
  each revision's start-up seconds, memory utilization and traffic percent.
- A template's memory limit (`resources.limits.memory`) is enforced on the
  revision's process (local_stack/cgroups.py): over it, the kernel kills the
  process, and the router answers 503 as Cloud Run does for a lost instance.
- Fault drills: `POST A/_local/faults?failing_updates=N` makes the next N updates
  apply their change but end their operation with an error.

Revision processes stay in this process's group: stopping the group stops them.
The image name is recorded only: every revision runs this working tree's code.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from google.cloud import run_v2
from google.protobuf import field_mask_pb2
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

from domain.alerts import is_gpu_error, is_unavailable
from domain.kpi import percentile
from local_stack.cgroups import MemoryLimit, parse_bytes
from local_stack.routing import Split
from processes import free_port, http_ok

REVISION_TYPE = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION
LATEST_TYPE = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
_FULL_UPDATE = ["template", "traffic", "scaling", "labels", "annotations", "description", "ingress"]
_HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


class ApiError(Exception):
    def __init__(self, code: int, status: str, message: str):
        super().__init__(message)
        self.code, self.status, self.message = code, status, message


class RevisionProcess:
    """One revision: a GPU-service process on its own port."""

    def __init__(self, name: str, env: dict[str, str], logs: Path, memory_limit: int | None = None):
        self.name = name
        self.port = free_port()
        self.started_at = time.time()
        self.startup_seconds: float | None = None  # until ready
        self.memory = MemoryLimit.create(memory_limit) if memory_limit else None
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"rev-{name}.log", "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "gpu_service.app:app", "--host", "127.0.0.1",
                 "--port", str(self.port), "--no-access-log"],
                env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if self.memory:
            self.memory.add(self.proc.pid)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ApiError(409, "FAILED_PRECONDITION",
                               f"Revision '{self.name}' is not ready: its container exited with {self.proc.returncode}")
            if http_ok(self.url + "/ready"):  # 503 until the model is loaded
                self.startup_seconds = time.time() - self.started_at  # Cloud Run's startup latency
                return
            time.sleep(0.1)
        raise ApiError(409, "FAILED_PRECONDITION", f"Revision '{self.name}' did not become ready in {timeout:.0f}s")

    def memory_utilization(self) -> float | None:
        return self.memory.utilization() if self.memory else None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.memory:
            self.memory.remove()


class LocalCloudRun:
    """One service's state: its proto, its revisions, its operations, its request log."""

    def __init__(self, project: str, region: str, service: str, router_url: str, logs: Path,
                 ready_timeout: float = 120.0):
        self.parent = f"projects/{project}/locations/{region}"
        self.short = service
        self.router_url = router_url
        self.logs = logs
        self.ready_timeout = ready_timeout
        self.lock = threading.RLock()
        self.revisions: dict[str, run_v2.Revision] = {}
        self.processes: dict[str, RevisionProcess] = {}
        self.operations: dict[str, dict] = {}
        self.requests: deque = deque(maxlen=200_000)  # (unix time, revision, status, seconds)
        self.split = Split([])
        self.service = run_v2.Service(
            name=f"{self.parent}/services/{service}", uid=uuid.uuid4().hex, generation=0, uri=router_url,
            urls=[router_url],
            template=run_v2.RevisionTemplate(containers=[run_v2.Container(image="local/gpu-service")]),
            traffic=[run_v2.TrafficTarget(type_=LATEST_TYPE, percent=100)],
            scaling=run_v2.ServiceScaling(min_instance_count=0, max_instance_count=3))
        # Fault drill (POST /_local/faults): this many next updates are applied, but their operation
        # reports an error, as a caller sees a change whose answer timed out.
        self.failing_updates = 0

    # --- Admin API ---------------------------------------------------------
    def get(self) -> run_v2.Service:
        with self.lock:
            return run_v2.Service(self.service)

    def update(self, incoming: run_v2.Service, mask_paths: list[str]) -> dict:
        """Apply an update; returns the long-running operation (done when the revision serves)."""
        paths = mask_paths or _FULL_UPDATE
        mask = field_mask_pb2.FieldMask(paths=paths)
        if not mask.IsValidForDescriptor(run_v2.Service.pb().DESCRIPTOR):
            raise ApiError(400, "INVALID_ARGUMENT", f"invalid update mask {paths}")
        with self.lock:
            updated = run_v2.Service.pb()()
            updated.CopyFrom(run_v2.Service.pb(self.service))
            mask.MergeMessage(run_v2.Service.pb(incoming), updated, replace_message_field=True,
                              replace_repeated_field=True)
            updated = run_v2.Service.wrap(updated)
            new_revision = None
            if run_v2.RevisionTemplate.pb(updated.template) != run_v2.RevisionTemplate.pb(self.service.template) \
                    or not self.revisions:
                new_revision = self._revision_name(updated)
            self._validate_traffic(updated, new_revision)
            operation = {"name": f"{self.parent}/operations/{uuid.uuid4()}", "done": False}
            self.operations[operation["name"]] = operation
            self.service.reconciling = True
        if new_revision is None:
            self._finish(operation, updated, None)
        else:
            threading.Thread(target=self._deploy, args=(operation, updated, new_revision), daemon=True).start()
        return operation

    def _revision_name(self, service: run_v2.Service) -> str:
        name = service.template.revision
        if name:
            if not name.startswith(self.short + "-"):
                raise ApiError(400, "INVALID_ARGUMENT", f"revision name must start with '{self.short}-'")
            if name in self.revisions:
                raise ApiError(409, "ALREADY_EXISTS", f"Revision named '{name}' already exists")
            return name
        return f"{self.short}-{len(self.revisions) + 1:05d}-{uuid.uuid4().hex[:3]}"

    def _validate_traffic(self, service: run_v2.Service, new_revision: str | None) -> None:
        known = set(self.revisions) | ({new_revision} if new_revision else set())
        tags = [t.tag for t in service.traffic if t.tag]
        if len(tags) != len(set(tags)):
            raise ApiError(400, "INVALID_ARGUMENT", "traffic tags must be unique")
        if service.traffic and sum(t.percent for t in service.traffic) != 100:
            raise ApiError(400, "INVALID_ARGUMENT", "traffic percents must add up to 100")
        for target in service.traffic:
            if target.type_ == REVISION_TYPE and target.revision not in known:
                raise ApiError(400, "INVALID_ARGUMENT", f"Revision '{target.revision}' does not exist")

    def _deploy(self, operation: dict, service: run_v2.Service, name: str) -> None:
        container = service.template.containers[0] if service.template.containers else run_v2.Container()
        env = {**os.environ, **{e.name: e.value for e in container.env},
               "K_SERVICE": self.short, "K_REVISION": name, "PORT": "0"}
        memory = container.resources.limits.get("memory")
        process = RevisionProcess(name, env, self.logs, parse_bytes(memory) if memory else None)
        try:
            process.wait_ready(self.ready_timeout)
        except ApiError as exc:
            process.stop()
            with self.lock:
                self.service.reconciling = False
                operation.update(done=True, error={"code": 9, "message": exc.message})
            return
        with self.lock:
            self.processes[name] = process
            self.revisions[name] = run_v2.Revision(
                name=f"{self.service.name}/revisions/{name}", service=self.service.name, uid=uuid.uuid4().hex,
                generation=1, containers=list(service.template.containers), scaling=service.template.scaling)
        self._finish(operation, service, name)

    def _finish(self, operation: dict, service: run_v2.Service, new_revision: str | None) -> None:
        with self.lock:
            if new_revision:
                service.latest_created_revision = f"{service.name}/revisions/{new_revision}"
                service.latest_ready_revision = service.latest_created_revision
                service.template.revision = ""
            service.generation = self.service.generation + 1
            service.observed_generation = service.generation
            service.reconciling = False
            service.traffic_statuses = [
                run_v2.TrafficTargetStatus(type_=t.type_, revision=self._resolve(t, service), percent=t.percent,
                                           tag=t.tag, uri=f"{self.router_url}/_tag/{t.tag}" if t.tag else "")
                for t in service.traffic]
            self.service = service
            self.split = Split([(s.revision, s.percent) for s in service.traffic_statuses])
            response = {"@type": "type.googleapis.com/google.cloud.run.v2.Service",
                        **_json(run_v2.Service.to_dict(service))}
            if self.failing_updates:
                self.failing_updates -= 1
                operation.update(done=True, error={"code": 4, "message": "injected fault: the change was "
                                                   "applied, but its operation reports DEADLINE_EXCEEDED"})
            else:
                operation.update(done=True, response=response)

    def _resolve(self, target, service: run_v2.Service | None = None) -> str:
        service = service or self.service
        if target.type_ == LATEST_TYPE:
            return service.latest_ready_revision.rsplit("/", 1)[-1]
        return target.revision

    # --- Router ------------------------------------------------------------
    def pick(self, tag: str | None) -> RevisionProcess | None:
        with self.lock:
            if tag:
                name = next((s.revision for s in self.service.traffic_statuses if s.tag == tag), None)
            else:
                name = self.split.next()
            return self.processes.get(name) if name else None

    def record(self, revision: str, status: int, seconds: float) -> None:
        self.requests.append((time.time(), revision, status, seconds))

    def stats(self, since: float, until: float) -> dict:
        """Per revision: requests in the window by outcome (a GPU error and a 503 as
        domain/alerts.py defines them), latency, start-up, memory and traffic."""
        per: dict[str, list] = {}
        for at, revision, status, seconds in list(self.requests):
            if since <= at <= until:
                per.setdefault(revision, []).append((status, seconds))
        with self.lock:
            processes = dict(self.processes)
            percent = dict(self.split.weights)
        out = {}
        for revision in set(per) | set(processes):
            rows = per.get(revision, [])
            times = [s for _, s in rows]
            errors = sum(1 for status, _ in rows if is_gpu_error(status))
            unavailable = sum(1 for status, _ in rows if is_unavailable(status))
            process = processes.get(revision)
            out[revision] = {
                "requests": len(rows), "errors": errors, "unavailable": unavailable,
                "error_rate": errors / len(rows) if rows else 0.0,
                "mean_seconds": sum(times) / len(times) if times else None,
                "p50_seconds": percentile(times, 50), "p95_seconds": percentile(times, 95),
                "startup_seconds": process.startup_seconds if process else None,
                "started_at": process.started_at if process else None,
                "memory_utilization": process.memory_utilization() if process else None,
                "percent": percent.get(revision, 0), "url": process.url if process else None}
        return out

    def stop(self) -> None:
        """All revisions at once, so their cleanup fits in the stack's grace period."""
        threads = [threading.Thread(target=p.stop) for p in self.processes.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(15)


def _json(value):
    """proto-plus to_dict keeps enums as ints and snake_case keys; the REST wire wants camelCase."""
    if isinstance(value, dict):
        return {_camel(k): _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def _camel(key: str) -> str:
    head, *rest = key.rstrip("_").split("_")
    return head + "".join(part.title() for part in rest)


def _error(exc: ApiError) -> JSONResponse:
    return JSONResponse({"error": {"code": exc.code, "status": exc.status, "message": exc.message}}, exc.code)


def admin_app(cloud_run: LocalCloudRun) -> FastAPI:
    app = FastAPI(title="local Cloud Run Admin API v2")
    service_path = "/v2/projects/{project}/locations/{location}/services/{service}"

    def check(service: str) -> None:
        if service != cloud_run.short:
            raise ApiError(404, "NOT_FOUND", f"Resource '{service}' of kind 'SERVICE' does not exist")

    @app.exception_handler(ApiError)
    async def api_error(request, exc: ApiError):
        return _error(exc)

    @app.get(service_path)
    def get_service(project: str, location: str, service: str):
        check(service)
        return JSONResponse(_json(run_v2.Service.to_dict(cloud_run.get())))

    @app.patch(service_path)
    async def update_service(project: str, location: str, service: str, request: Request):
        check(service)
        incoming = run_v2.Service.from_json(await request.body(), ignore_unknown_fields=True)
        mask = field_mask_pb2.FieldMask()
        mask.FromJsonString(request.query_params.get("updateMask", ""))
        if request.query_params.get("validateOnly") == "true":
            return {"name": f"{cloud_run.parent}/operations/validate", "done": True}
        return cloud_run.update(incoming, list(mask.paths))

    @app.get(service_path + "/revisions")
    def list_revisions(project: str, location: str, service: str):
        check(service)
        with cloud_run.lock:
            return {"revisions": [_json(run_v2.Revision.to_dict(r)) for r in cloud_run.revisions.values()]}

    @app.get(service_path + "/revisions/{revision}")
    def get_revision(project: str, location: str, service: str, revision: str):
        check(service)
        if revision not in cloud_run.revisions:
            raise ApiError(404, "NOT_FOUND", f"Revision '{revision}' does not exist")
        return _json(run_v2.Revision.to_dict(cloud_run.revisions[revision]))

    @app.get("/v2/projects/{project}/locations/{location}/operations/{operation}")
    @app.post("/v2/projects/{project}/locations/{location}/operations/{operation}:wait")
    def get_operation(project: str, location: str, operation: str):
        name = f"projects/{project}/locations/{location}/operations/{operation}"
        if name not in cloud_run.operations:
            raise ApiError(404, "NOT_FOUND", f"operation {name} not found")
        return cloud_run.operations[name]

    @app.get("/_local/ready")
    def ready():
        ok = bool(cloud_run.processes) and not cloud_run.service.reconciling
        return JSONResponse({"ready": ok}, 200 if ok else 503)

    @app.post("/_local/faults")
    def faults(failing_updates: int = 1):
        with cloud_run.lock:
            cloud_run.failing_updates = failing_updates
        return {"failing_updates": failing_updates}

    @app.get("/_local/faults")
    def faults_left():
        return {"failing_updates": cloud_run.failing_updates}

    @app.get("/_local/stats")
    def stats(since: float | None = None, until: float | None = None, seconds: float | None = None):
        now = time.time()
        until = until or now
        since = since if since is not None else until - (seconds or 60.0)
        return {"since": since, "until": until, "revisions": cloud_run.stats(since, until)}

    return app


def router_app(cloud_run: LocalCloudRun) -> Starlette:
    client = httpx.AsyncClient(timeout=httpx.Timeout(600.0, connect=5.0))

    async def proxy(request: Request) -> Response:
        path, tag = request.url.path, None
        if path.startswith("/_tag/"):
            _, _, tag, *rest = path.split("/", 3)
            path = "/" + (rest[0] if rest else "")
        revision = cloud_run.pick(tag)
        if revision is None:
            return Response("no revision serves this URL\n", 404 if tag else 503)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        started = time.perf_counter()
        try:
            upstream = await client.request(request.method, revision.url + path, params=request.query_params,
                                            headers=headers, content=await request.body())
            status, body, out_headers = upstream.status_code, upstream.content, {
                k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_HEADERS | {"content-encoding"}}
        except httpx.HTTPError as exc:  # the instance died or hung: Cloud Run answers 503
            status, body, out_headers = 503, f"upstream error: {exc}\n".encode(), {}
        cloud_run.record(revision.name, status, time.perf_counter() - started)
        return Response(body, status, headers=out_headers)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", proxy, methods=methods)])


def serve(cloud_run: LocalCloudRun, admin_port: int, router_port: int) -> None:
    """One uvicorn server on both ports; each request goes to the app of the port it came in on."""
    import uvicorn

    admin, router = admin_app(cloud_run), router_app(cloud_run)

    async def app(scope, receive, send):
        if scope["type"] == "http" and scope["server"][1] == router_port:
            return await router(scope, receive, send)
        return await admin(scope, receive, send)

    sockets = []
    for port in (admin_port, router_port):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sockets.append(sock)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    try:
        asyncio.run(server.serve(sockets=sockets))
    finally:
        cloud_run.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local_stack.cloud_run")
    parser.add_argument("--project", default="demo-proj")
    parser.add_argument("--region", default="us-central1")
    parser.add_argument("--service", default="pet-cutout-gpu")
    parser.add_argument("--admin-port", type=int, required=True)
    parser.add_argument("--router-port", type=int, required=True)
    parser.add_argument("--logs", type=Path, default=Path(".local/cloud-run"))
    args = parser.parse_args(argv)
    cloud_run = LocalCloudRun(args.project, args.region, args.service, f"http://127.0.0.1:{args.router_port}",
                              args.logs)
    # The first revision, deployed as `gcloud run deploy` would: all traffic to the latest.
    cloud_run.update(cloud_run.get(), ["template"])
    serve(cloud_run, args.admin_port, args.router_port)


if __name__ == "__main__":
    main()
