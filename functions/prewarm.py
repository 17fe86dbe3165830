"""Pre-warm (HTTP, called by Cloud Scheduler): apply the window's scaling to the
GPU service and ping its /warmup when the policy says so; record what was done.

The policy (scheduler/policy.py) decides from the clock, the last finished job,
the warm-ups of the last hour and emergency cost mode; this only carries it out.
Emergency mode caps the scaling too, so a tick can never undo the budget guard.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from adapters.cloud_run import CloudRun, Scaling
from adapters.jobs import JobRepository
from adapters.logs import log
from adapters.notify import ServiceCaller
from adapters.ops_store import OpsStore
from functions.budget_guard import emergency_scaling
from settings import Settings

logger = logging.getLogger(__name__)


def handle(now: datetime, *, store: OpsStore, jobs: JobRepository, cloud_run: CloudRun, caller: ServiceCaller,
           settings: Settings, decide=None) -> dict:
    if decide is None:
        from scheduler.policy import decide
    emergency = store.emergency() is not None
    decision = decide(now, last_job_finished_at=jobs.last_job_finished_at(),
                      warmups_last_hour=store.warmups_since(now - timedelta(hours=1)), emergency=emergency)
    target = Scaling(decision.min_instances, decision.max_instances)
    if emergency:
        cap = emergency_scaling()
        target = Scaling(cap.min_instances, min(target.max_instances, cap.max_instances))
    changed = cloud_run.scaling(settings.gpu_service) != target
    if changed:
        cloud_run.set_scaling(settings.gpu_service, target)
    warmup = _warm(caller, settings, now, store) if decision.warmup and not emergency else "skipped"
    summary = {"window": decision.window.name, "reason": decision.reason, "min_instances": target.min_instances,
               "max_instances": target.max_instances, "scaling_changed": changed, "warmup": warmup,
               "emergency": emergency}
    store.record("prewarm", **summary)
    log(logger, logging.INFO, "prewarm", **summary)
    return summary


def _warm(caller: ServiceCaller, settings: Settings, now: datetime, store: OpsStore) -> str:
    """"ok" or why not; a failed ping is reported, not raised (the next tick tries again)."""
    try:
        status, _ = caller.call("POST", settings.gpu_service_url.rstrip("/") + "/warmup", timeout=120.0)
    except Exception as exc:  # noqa: BLE001 - a cold or unreachable service is an outcome here
        return f"error: {str(exc)[:200]}"
    if status >= 300:
        return f"error: HTTP {status}"
    store.record_warmup(now)
    return "ok"
