"""`python -m scheduler apply`: make Cloud Scheduler hold exactly the schedule's jobs.

Idempotent: it lists the location's jobs, touches only those whose id starts
with the schedule's prefix, creates the missing ones, updates those that differ
(only the fields it manages, with an update mask) and deletes its own jobs the
schedule no longer names. A second run finds nothing to do.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from google.cloud import scheduler_v1
from google.protobuf import duration_pb2, field_mask_pb2

from adapters.logs import log
from scheduler.windows import Schedule

logger = logging.getLogger(__name__)

MANAGED_FIELDS = ("description", "schedule", "time_zone", "http_target", "attempt_deadline", "retry_config")
ATTEMPT_DEADLINE_S = 180


@dataclass(frozen=True)
class Change:
    action: str  # create | update | delete
    job_id: str
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        extra = f" ({', '.join(self.fields)})" if self.fields else ""
        return f"{self.action} {self.job_id}{extra}"


def parent(project: str, region: str) -> str:
    return f"projects/{project}/locations/{region}"


def desired_jobs(schedule: Schedule, *, project: str, region: str, target_url: str,
                 service_account: str, target_urls: dict[str, str] | None = None) -> dict[str, scheduler_v1.Job]:
    """The jobs the schedule names, by job id: POST {"job": NAME} with an OIDC token to the
    job's target function (`target_url` is the pre-warm function's, `target_urls` the others')."""
    urls = {"prewarm": target_url, **(target_urls or {})}
    if missing := sorted({job.target for job in schedule.jobs} - set(urls)):
        raise ValueError(f"no URL for the schedule's target function(s) {missing}: give --target NAME=URL")
    out = {}
    for job in schedule.jobs:
        job_id = f"{schedule.job_prefix}{job.name}"
        target_url = urls[job.target]
        out[job_id] = scheduler_v1.Job(
            name=f"{parent(project, region)}/jobs/{job_id}",
            description=job.description,
            schedule=job.cron,
            time_zone=schedule.time_zone,
            attempt_deadline=duration_pb2.Duration(seconds=ATTEMPT_DEADLINE_S),
            # A tick missed is made good by the next one: no retries piling up.
            retry_config=scheduler_v1.RetryConfig(retry_count=0),
            http_target=scheduler_v1.HttpTarget(
                uri=target_url,
                http_method=scheduler_v1.HttpMethod.POST,
                headers={"Content-Type": "application/json"},
                body=json.dumps({"job": job.name}, sort_keys=True).encode(),
                oidc_token=scheduler_v1.OidcToken(service_account_email=service_account, audience=target_url),
            ),
        )
    return out


def _managed(job: scheduler_v1.Job) -> dict:
    """The fields apply owns, in a comparable form (server-added headers ignored)."""
    t = job.http_target
    return {
        "description": job.description,
        "schedule": job.schedule,
        "time_zone": job.time_zone,
        "attempt_deadline": job.attempt_deadline.total_seconds() if job.attempt_deadline else 0,
        "retry_config": job.retry_config.retry_count,
        "http_target": (t.uri, int(t.http_method), t.headers.get("Content-Type", ""), bytes(t.body),
                        t.oidc_token.service_account_email, t.oidc_token.audience),
    }


def plan(existing: list[scheduler_v1.Job], desired: dict[str, scheduler_v1.Job], prefix: str) -> list[Change]:
    ours = {j.name.rsplit("/", 1)[-1]: j for j in existing if j.name.rsplit("/", 1)[-1].startswith(prefix)}
    changes = []
    for job_id, want in desired.items():
        have = ours.get(job_id)
        if have is None:
            changes.append(Change("create", job_id))
            continue
        a, b = _managed(have), _managed(want)
        differ = tuple(f for f in MANAGED_FIELDS if a[f] != b[f])
        if differ:
            changes.append(Change("update", job_id, differ))
    changes += [Change("delete", job_id) for job_id in sorted(ours) if job_id not in desired]
    return changes


def apply(cloud_scheduler: scheduler_v1.CloudSchedulerClient, schedule: Schedule, *, project: str, region: str,
          target_url: str, service_account: str, dry_run: bool = False,
          target_urls: dict[str, str] | None = None) -> list[Change]:
    """Bring the location's prefixed jobs in line with the schedule; returns what changed."""
    where = parent(project, region)
    desired = desired_jobs(schedule, project=project, region=region, target_url=target_url,
                           service_account=service_account, target_urls=target_urls)
    existing = list(cloud_scheduler.list_jobs(parent=where))
    changes = plan(existing, desired, schedule.job_prefix)
    for change in changes:
        log(logger, logging.INFO, "scheduler job change", change=str(change), dry_run=dry_run)
        if dry_run:
            continue
        if change.action == "create":
            cloud_scheduler.create_job(parent=where, job=desired[change.job_id])
        elif change.action == "update":
            cloud_scheduler.update_job(job=desired[change.job_id],
                                       update_mask=field_mask_pb2.FieldMask(paths=list(change.fields)))
        else:
            cloud_scheduler.delete_job(name=f"{where}/jobs/{change.job_id}")
    return changes
