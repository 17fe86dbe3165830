"""`--target local`: the gate's endpoints for a running local stack (env vars, as for a
remote target), or, with none set, a stack started for the run."""

from __future__ import annotations

import contextlib

from validation.targets import Endpoints

# What the gate drives: the public functions, the pipeline behind an upload, the GPU service.
FUNCTIONS = ["upload_url", "job_status", "intake", "job_events", "dead_letter"]


def env_for(stack, gpu_app: str = "gpu_service.app:app") -> dict[str, str]:
    """VALIDATION_* for `stack`, plus the stack's own environment (a fresh GPU-service process
    for the cold start needs the emulators' addresses, as the stack's children have them)."""
    return {**stack.extra_env, **stack.env,
            "VALIDATION_UPLOAD_URL": stack.url("upload_url") + "/",
            "VALIDATION_JOB_STATUS_URL": stack.url("job_status") + "/",
            "VALIDATION_GPU_URL": stack.url("gpu"),
            "VALIDATION_STORE_ORIGIN": stack.extra_env.get("STORE_ORIGINS", "").split(",")[0]
            or stack.topology["buckets"]["uploads"]["cors"]["origins"].split(",")[0],
            "VALIDATION_LOCAL_GPU_APP": gpu_app}


@contextlib.contextmanager
def started_stack():
    from local_stack.stack import Stack

    with Stack(functions=FUNCTIONS) as stack:
        env = env_for(stack)
        endpoints = Endpoints.from_env(env)
        endpoints.local_env = env
        yield endpoints
