"""GPU-service memory under load, read from its own /metrics while the burst and the
high-resolution photos ran (context.MemorySampler): the peak resident memory against
the plan's < 28 GiB. Device memory is reported beside it."""

from __future__ import annotations

from validation.context import Context, timed
from validation.report import Verdict


@timed
def run(ctx: Context) -> Verdict:
    limit = ctx.limit("memory_bytes")
    sampler = ctx.memory
    if sampler is None or sampler.samples == 0:
        return Verdict("memory", False, None, limit, "B", ctx.limits["memory_bytes"].says, ctx.scaled("memory_bytes"),
                       "no /metrics sample was read under load (run it with burst or high_res)")
    detail = (f"peak resident memory over {sampler.samples} /metrics reads; device memory peak "
              f"{sampler.peak_device / 1024 ** 3:.2f} GiB")
    if sampler.peak_rss >= limit:
        detail = "resident memory over the limit under load; " + detail
    return Verdict("memory", sampler.peak_rss < limit, int(sampler.peak_rss), int(limit), "B",
                   ctx.limits["memory_bytes"].says, ctx.scaled("memory_bytes"), detail,
                   figures={"samples": sampler.samples, "metrics_errors": sampler.errors,
                            "peak_device_bytes": int(sampler.peak_device)})
