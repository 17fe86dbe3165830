"""The GPU service answers its probes: /ready 200, /health status "ok", and /health's
p95 latency within the plan's health-check SLA (p95 < 500 ms)."""

from __future__ import annotations

import time

from validation.context import Context, timed
from validation.report import Verdict

SAMPLES = 20


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def probe(ctx: Context, wait: float = 30.0) -> tuple[bool, str]:
    """(healthy, why not): /ready 200 and /health 200 with status ok. A service still
    "starting" (loaded, its warm-up pass running) is given `wait` seconds to finish."""
    deadline = time.monotonic() + wait
    while True:
        ready = ctx.gpu.get("/ready", timeout=60)
        health = ctx.gpu.get("/health", timeout=30)
        if ready.status_code != 200 and health.status_code != 200:
            return False, f"/ready answered {ready.status_code}, /health {health.status_code}"
        status = health.json().get("status") if health.status_code == 200 else None
        if ready.status_code == 200 and status == "ok":
            return True, ""
        if status != "starting" or time.monotonic() > deadline:
            return False, f"/ready answered {ready.status_code}, /health {health.status_code} status {status!r}"
        time.sleep(0.5)


@timed
def run(ctx: Context) -> Verdict:
    limit = ctx.limit("health_p95_seconds")
    healthy, why = probe(ctx)
    times = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        answer = ctx.gpu.get("/health", timeout=30)
        times.append(time.perf_counter() - started)
        if answer.status_code != 200:
            healthy, why = False, f"/health answered {answer.status_code}"
            break
    p95 = percentile(times, 0.95)
    return Verdict("health", healthy and p95 < limit, round(p95, 3), limit, "s", ctx.limits["health_p95_seconds"].says,
                   ctx.scaled("health_p95_seconds"), why, figures={"samples": len(times)})
