"""HTTP face of the GPU service: the Pub/Sub push route, the probes, warm-up and metrics.

Acknowledgement rules (Pub/Sub redelivers any non-2xx, 4xx included):
success, duplicate and permanent failure -> 204; not ready, busy or transient -> 503/500;
queue full -> 429 with Retry-After (shed before any download or decode).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from adapters import logs
from events.schemas import PushEnvelope, SegmentRequest
from gpu_service import metrics, smoke
from gpu_service.batcher import Overloaded
from gpu_service.engines import EngineError
from gpu_service.runtime import Runtime
from settings import get_settings

logger = logging.getLogger("gpu_service")


def create_app(runtime: Runtime, load_on_start: bool = True) -> FastAPI:
    retry_after = {"Retry-After": str(runtime.settings.shed_retry_after_seconds)}

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if load_on_start:
            threading.Thread(target=runtime.load_or_exit, name="model-loader", daemon=True).start()
        yield

    app = FastAPI(title="pet cut-out GPU service", lifespan=lifespan)
    app.state.runtime = runtime

    @app.get("/healthz")
    def healthz():
        return {"ok": True}

    @app.get("/health")
    def health():
        # Always 200 while the process answers: a report for people and the morning check,
        # not a probe (the probes keep /healthz and /ready).
        return runtime.health()

    @app.get("/ready")
    def ready(response: Response):
        if not runtime.ready:
            response.status_code = 503
            return {"ready": False}
        return {"ready": True}

    @app.get("/model-info")
    def model_info(response: Response):
        if not runtime.ready:
            response.status_code = 503
            return {"ready": False}
        return runtime.info()

    @app.get("/metrics")
    def prometheus_metrics():
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    @app.post("/warmup")
    def warmup(response: Response):
        started = time.perf_counter()
        try:
            runtime.warm()
        except EngineError as exc:
            metrics.WARMUPS.labels("error").inc()
            response.status_code = 503
            return {"ready": False, "error": str(exc)}
        metrics.WARMUPS.labels("ok").inc()
        return {"ready": True, "seconds": round(time.perf_counter() - started, 3)}

    @app.post("/pubsub/segment")
    async def segment(request: Request):
        logs.set_trace(request.headers.get("X-Cloud-Trace-Context") or request.headers.get("traceparent"),
                       runtime.settings.google_cloud_project)
        try:
            envelope = PushEnvelope.model_validate(json.loads(await request.body()))
            job = SegmentRequest.model_validate(envelope.message.json_data())
        except (ValueError, ValidationError) as exc:
            # Retrying a malformed message can never help: acknowledge it.
            logs.log(logger, logging.ERROR, "malformed segment request acknowledged", error=str(exc)[:500])
            metrics.REQUESTS.labels("malformed").inc()
            return Response(status_code=204)
        if not runtime.ready:
            metrics.REQUESTS.labels("not_ready").inc()
            return Response(status_code=503, headers=retry_after)
        if not runtime.try_admit():
            metrics.REQUESTS.labels("shed").inc()
            return Response(status_code=429, headers=retry_after)
        try:
            outcome = await run_in_threadpool(runtime.worker.process, job)
        except Overloaded:
            metrics.REQUESTS.labels("shed").inc()
            return Response(status_code=429, headers=retry_after)
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

    app.include_router(smoke.router_for(runtime))  # POST /segment, for the canary's smoke test
    return app


logs.setup(get_settings().log_level)
runtime = Runtime(get_settings())
app = create_app(runtime)
