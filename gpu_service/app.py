"""HTTP face of the GPU service: the Pub/Sub push route, the probes, warm-up and metrics.

Acknowledgement rules (Pub/Sub redelivers any non-2xx, 4xx included):
success, duplicate and permanent failure -> 204; not ready, busy or transient -> 503/500;
admission full -> 429 with Retry-After (shed before any download or decode).

Importing this module builds nothing heavy: `app` is an empty FastAPI shell whose
lifespan builds the runtime (settings, heap limits, gauges, the model loader) when
uvicorn starts it. Tests pass a runtime of their own to create_app.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from adapters import logs
from events.schemas import PushEnvelope, SegmentRequest
from gpu_service import metrics, smoke
from gpu_service.engines import EngineError
from gpu_service.runtime import Runtime
from settings import get_settings

logger = logging.getLogger("gpu_service")


def runtime_of(request: Request) -> Runtime | None:
    """The service's runtime; None until the lifespan has built it."""
    return request.app.state.runtime


# --- probes: for Cloud Run and for people -------------------------------------------------
probes = APIRouter()


@probes.get("/healthz")
def healthz():
    return {"ok": True}


@probes.get("/health")
def health(runtime: Runtime | None = Depends(runtime_of)):
    # Always 200 while the process answers: a report for people and the morning check,
    # not a probe (the probes keep /healthz and /ready).
    return runtime.health() if runtime else {"stage": "starting"}


@probes.get("/ready")
def ready(response: Response, runtime: Runtime | None = Depends(runtime_of)):
    if not (runtime and runtime.ready):
        response.status_code = 503
        return {"ready": False}
    return {"ready": True}


@probes.get("/model-info")
def model_info(response: Response, runtime: Runtime | None = Depends(runtime_of)):
    if not (runtime and runtime.ready):
        response.status_code = 503
        return {"ready": False}
    return runtime.info()


# --- operations: metrics for the collector sidecar, warm-up for pre-warming ---------------
operations = APIRouter()


@operations.get("/metrics")
def prometheus_metrics():
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


@operations.post("/warmup")
def warmup(response: Response, runtime: Runtime | None = Depends(runtime_of)):
    started = time.perf_counter()
    if runtime is None:
        response.status_code = 503
        return {"ready": False, "error": "starting"}
    try:
        runtime.warm()
    except EngineError as exc:
        metrics.WARMUPS.labels("error").inc()
        response.status_code = 503
        return {"ready": False, "error": str(exc)}
    metrics.WARMUPS.labels("ok").inc()
    return {"ready": True, "seconds": round(time.perf_counter() - started, 3)}


# --- the job: Pub/Sub's push of one segmentation request -----------------------------------
pubsub = APIRouter()


@pubsub.post("/pubsub/segment")
async def segment(request: Request, runtime: Runtime | None = Depends(runtime_of)):
    settings = runtime.settings if runtime else get_settings()
    retry_after = {"Retry-After": str(settings.shed_retry_after_seconds)}
    logs.set_trace(request.headers.get("X-Cloud-Trace-Context") or request.headers.get("traceparent"),
                   settings.google_cloud_project)
    try:
        envelope = PushEnvelope.model_validate(json.loads(await request.body()))
        job = SegmentRequest.model_validate(envelope.message.json_data())
    except (ValueError, ValidationError) as exc:
        # Retrying a malformed message can never help: acknowledge it.
        logs.log(logger, logging.ERROR, "malformed segment request acknowledged", error=str(exc)[:500])
        metrics.REQUESTS.labels("malformed").inc()
        return Response(status_code=204)
    if not (runtime and runtime.ready):
        metrics.REQUESTS.labels("not_ready").inc()
        return Response(status_code=503, headers=retry_after)
    # Admission is the one shedding point: the batcher's queue holds twice what it lets in.
    if not runtime.try_admit():
        metrics.REQUESTS.labels("shed").inc()
        return Response(status_code=429, headers=retry_after)
    try:
        outcome = await run_in_threadpool(runtime.worker.process, job)
    except Exception:
        logger.exception("transient failure; Pub/Sub will retry")
        metrics.REQUESTS.labels("error").inc()
        return Response(status_code=500)
    finally:
        runtime.release()
    metrics.REQUESTS.labels(outcome.value).inc()
    if outcome.retry:  # busy elsewhere, or abandoned at its deadline: deliver again later
        return Response(status_code=503, headers=retry_after)
    return Response(status_code=204)


def create_app(runtime: Runtime | None = None, load_on_start: bool = True) -> FastAPI:
    """The service. Without a runtime, its lifespan builds one from the settings at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.runtime is None:
            logs.setup(get_settings().log_level, secrets=get_settings().secrets)
            app.state.runtime = Runtime(get_settings())
        if load_on_start:
            threading.Thread(target=app.state.runtime.load_or_exit, name="model-loader", daemon=True).start()
        yield

    app = FastAPI(title="pet cut-out GPU service", lifespan=lifespan)
    app.state.runtime = runtime
    for router in (probes, operations, pubsub, smoke.router):  # smoke: POST /segment, for the canary
        app.include_router(router)
    return app


app = create_app()  # `uvicorn gpu_service.app:app`; the runtime comes with the lifespan
