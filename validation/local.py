"""`--target local` with no VALIDATION_* endpoints: start a local stack for the run, and
describe any running stack (tests/e2e's session stack) as the gate's endpoints."""

from __future__ import annotations

import contextlib

from validation.targets import Endpoints

# What the gate drives: the public functions, the pipeline behind an upload, the GPU service.
FUNCTIONS = ["upload_url", "job_status", "intake", "job_events", "dead_letter"]


def endpoints_of(stack, gpu_app: str = "gpu_service.app:app") -> Endpoints:
    store = stack.extra_env["STORE_ORIGINS"].split(",")[0] if "STORE_ORIGINS" in stack.extra_env \
        else stack.topology["buckets"]["uploads"]["cors"]["origins"].split(",")[0]
    return Endpoints(upload_url=stack.url("upload_url") + "/", job_status=stack.url("job_status") + "/",
                     gpu_url=stack.url("gpu"), store_origin=store,
                     local_env={**stack.extra_env, **stack.env}, local_gpu_app=gpu_app)


@contextlib.contextmanager
def started_stack():
    from local_stack.stack import Stack

    with Stack(functions=FUNCTIONS) as stack:
        yield endpoints_of(stack)
