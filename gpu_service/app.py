"""HTTP face of the GPU service: the Pub/Sub push route and the probes.

Acknowledgement rules (Pub/Sub redelivers any non-2xx, 4xx included):
success, duplicate and permanent failure -> 204; busy or transient -> 503/500.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool
from pydantic import ValidationError

from adapters import logs
from events.schemas import PushEnvelope, SegmentRequest
from gpu_service.runtime import Runtime
from gpu_service.worker import Outcome
from settings import get_settings

logs.setup(get_settings().log_level)
logger = logging.getLogger("gpu_service")
app = FastAPI(title="pet cut-out GPU service")
runtime = Runtime(get_settings())


@app.on_event("startup")
def start_loading() -> None:
    threading.Thread(target=runtime.load_or_exit, name="model-loader", daemon=True).start()


@app.get("/healthz")
def healthz():
    return {"ok": True}


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
    return runtime.engine.info()


@app.post("/warmup")
def warmup():
    started = time.perf_counter()
    runtime.warm()
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
        return Response(status_code=204)
    if not runtime.ready:
        return Response(status_code=503, headers={"Retry-After": "10"})
    try:
        outcome = await run_in_threadpool(runtime.worker.process, job)
    except Exception:
        logger.exception("transient failure; Pub/Sub will retry")
        return Response(status_code=500)
    if outcome is Outcome.BUSY:
        return Response(status_code=503, headers={"Retry-After": "10"})
    return Response(status_code=204)


from gpu_service.smoke import router as smoke_router  # noqa: E402  (POST /segment, for canary smoke tests)
app.include_router(smoke_router)
