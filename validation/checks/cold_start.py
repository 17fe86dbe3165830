"""Cold start: seconds from a request meeting no running instance to its answer, against
the plan's < 35 s.

- staging/production: the service is first left idle for VALIDATION_COLD_START_WAIT_SECONDS
  (a revision with no traffic scales to zero when min instances is 0, as staging's is, but an
  idle instance may be kept for a while: https://cloud.google.com/run/docs/about-instance-autoscaling);
  the first GET /model-info is held by Cloud Run until the startup probe passes (a startup probe
  decides when the container is ready to accept traffic:
  https://cloud.google.com/run/docs/configuring/healthchecks). /health's uptime then
  proves the instance was born for that request; an older instance means the service was not
  at zero, and the check fails rather than report a warm figure as a cold one.
- local: the stack's GPU service does not scale to zero, so a fresh GPU-service process (the
  same app, the stack's environment) is started, timed from exec to its first /segment answer,
  and stopped. Its own cold_start_seconds metric is reported beside.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import requests

from processes import free_port
from validation.client import GpuService
from validation.context import Context, timed
from validation.photos import pet_photo
from validation.report import Verdict


def fresh_process(ctx: Context, limit: float) -> tuple[float | None, dict, str]:
    port = free_port()
    env = {**os.environ, **ctx.endpoints.local_env, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", ctx.endpoints.local_gpu_app, "--host", "127.0.0.1",
                             "--port", str(port), "--no-access-log"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    gpu, photo = GpuService(f"http://127.0.0.1:{port}"), pet_photo((640, 480))
    try:
        while time.monotonic() - started < limit * 2:
            if proc.poll() is not None:
                return None, {}, f"the fresh GPU service exited with {proc.returncode}"
            try:
                answer = gpu.http.post(gpu.url + "/segment", data=photo, timeout=limit * 2)
                if answer.status_code == 200:
                    seconds = time.monotonic() - started
                    return seconds, {"cold_start_seconds_metric": gpu.metrics().get("cold_start_seconds")}, ""
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        return None, {}, f"no /segment answer within {limit * 2:.0f} s"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def from_zero(ctx: Context, limit: float) -> tuple[float | None, dict, str]:
    time.sleep(ctx.endpoints.cold_start_wait_seconds)
    started = time.monotonic()
    answer = ctx.gpu.get("/model-info", timeout=max(120.0, limit * 3))
    seconds = time.monotonic() - started
    if answer.status_code != 200:
        return None, {}, f"/model-info answered {answer.status_code}"
    uptime = ctx.gpu.get("/health").json().get("uptime_seconds", 0)
    figures = {"instance_uptime_seconds": uptime, "cold_start_seconds_metric": ctx.gpu.metrics().get(
        "cold_start_seconds")}
    # The process of a cold instance starts after our request arrived: its uptime is at most our wait.
    if uptime > time.monotonic() - started + 1:
        return None, figures, (f"the instance was up {uptime:.0f} s: the service was not at zero "
                               "(raise VALIDATION_COLD_START_WAIT_SECONDS)")
    return seconds, figures, ""


@timed
def run(ctx: Context) -> Verdict:
    limit = ctx.limit("cold_start_seconds")
    how = "fresh GPU-service process (the local stack does not scale to zero)" if ctx.target == "local" \
        else "first request after scale to zero"
    seconds, figures, why = (fresh_process if ctx.target == "local" else from_zero)(ctx, limit)
    passed = seconds is not None and seconds < limit
    if seconds is not None and not passed:
        why = why or "slower than the plan's cold start"
    return Verdict("cold_start", passed, None if seconds is None else round(seconds, 2), limit, "s",
                   ctx.limits["cold_start_seconds"].says, ctx.scaled("cold_start_seconds"),
                   "; ".join(x for x in (how, why) if x), figures=figures)
