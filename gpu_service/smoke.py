"""A synchronous segmentation route for smoke tests: image bytes in, PNG cut-out out.

The canary calls it through a new revision's tag URL before any shopper traffic
reaches that revision. It touches no bucket and no job: it proves the model runs.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from cutout import imaging

MAX_BYTES = 30 * 1024 * 1024


router = APIRouter()


@router.post("/segment")
async def segment(request: Request) -> Response:
    runtime = request.app.state.runtime
    if not (runtime and runtime.ready):
        return Response(status_code=503, headers={"Retry-After": "5"})
    data = await request.body()
    if not data or len(data) > MAX_BYTES:
        return Response("expected image bytes of up to 30 MB\n", status_code=400)
    try:
        image = imaging.decode(data, runtime.settings.gpu_decode_budget)
    except imaging.BadImage as exc:
        return Response(f"bad image: {exc}\n"[:300], status_code=400)
    # Through the batcher, like every job: one thread owns the model.
    mask = await run_in_threadpool(runtime.segment, image, runtime.settings.job_deadline_seconds)
    png = imaging.compose(image, mask, output_format="png", max_side=runtime.settings.output_max_side)
    return Response(png, media_type="image/png")
