"""The gate's checks, in the order they run: the cold start first (any earlier request would
wake a scaled-to-zero service), the probes, load next (memory is read while
it runs), then what reads its results, then the error cases last (they must leave the
service healthy)."""

from validation.checks import bad_upload, burst, cold_start, cors, health, high_res, memory, results, warm

ORDER = {
    "cold_start": cold_start.run,
    "health": health.run,
    "warm_p95": warm.run,
    "burst": burst.run,
    "high_res": high_res.run,
    "memory": memory.run,
    "results_signed_get": results.run,
    "cors": cors.run,
    "bad_upload": bad_upload.run,
}
# Checks that load the service: the memory sampler runs while they do.
UNDER_LOAD = {"burst", "high_res"}
