"""Cloud Functions entry points (functions-framework targets), thin on purpose.

Each decodes its request or CloudEvent into an events/ schema and calls the
plain handler in functions/. Pub/Sub-triggered targets acknowledge (return) a
malformed message after logging it, since a retry would never fix it; any other
error raises, so Pub/Sub retries with backoff and finally dead-letters.
"""

import logging

import functions_framework
from pydantic import ValidationError

from adapters import logs
from bootstrap import adapters
from domain.uploads import Rejected
from events.schemas import GcsObjectEvent, JobEvent, PushEnvelope, UploadUrlRequest
from functions import dead_letter as dead_letter_fn
from functions import http, intake as intake_fn, job_events as job_events_fn, job_status as job_status_fn
from functions import upload_url as upload_url_fn
from settings import get_settings

logs.setup(get_settings().log_level)
logger = logging.getLogger("main")


def _envelope(cloud_event) -> PushEnvelope | None:
    try:
        return PushEnvelope.model_validate(cloud_event.data)
    except (ValidationError, TypeError) as exc:
        logs.log(logger, logging.ERROR, "malformed Pub/Sub event acknowledged", error=str(exc)[:500])
        return None


@functions_framework.http
def upload_url(request):
    settings = get_settings()
    logs.set_trace(request.headers.get("X-Cloud-Trace-Context"), settings.google_cloud_project)
    origin = request.headers.get("Origin")
    if request.method == "OPTIONS":
        return http.preflight(origin, settings.allowed_origins)
    cors = http.cors_headers(origin, settings.allowed_origins)
    if origin and not cors:
        return http.error(403, "origin_not_allowed")
    if request.method != "POST":
        return http.error(405, "method_not_allowed", headers=cors)
    try:
        body = UploadUrlRequest.model_validate(http.read_json(request))
    except (ValueError, ValidationError) as exc:
        return http.error(400, "bad_request", str(exc).splitlines()[0][:200], headers=cors)
    a = adapters()
    try:
        response = upload_url_fn.handle(body, jobs=a.jobs, blobs=a.blobs, settings=settings)
    except Rejected as rejected:
        return http.error(400, rejected.reason, rejected.detail, headers=cors)
    return http.ok(response.model_dump_json(), 201, headers=cors)


@functions_framework.http
def job_status(request):
    settings = get_settings()
    logs.set_trace(request.headers.get("X-Cloud-Trace-Context"), settings.google_cloud_project)
    origin = request.headers.get("Origin")
    if request.method == "OPTIONS":
        return http.preflight(origin, settings.allowed_origins)
    cors = http.cors_headers(origin, settings.allowed_origins)
    if origin and not cors:
        return http.error(403, "origin_not_allowed")
    a = adapters()
    body = job_status_fn.handle(request.args.get("job_id", ""), jobs=a.jobs, blobs=a.blobs, settings=settings)
    if body is None:
        return http.error(404, "not_found", headers=cors)
    return http.ok(body, headers=cors)


@functions_framework.cloud_event
def intake(cloud_event):
    if (envelope := _envelope(cloud_event)) is None:
        return
    try:
        event = GcsObjectEvent.from_message(envelope.message)
    except (ValidationError, ValueError) as exc:
        logs.log(logger, logging.ERROR, "malformed storage notification acknowledged", error=str(exc)[:500])
        return
    a = adapters()
    outcome = intake_fn.handle(event, jobs=a.jobs, blobs=a.blobs, publisher=a.publisher, settings=a.settings)
    logs.log(logger, logging.INFO, "intake", outcome=outcome, object=event.name, generation=event.generation)


@functions_framework.cloud_event
def job_events(cloud_event):
    if (envelope := _envelope(cloud_event)) is None:
        return
    try:
        event = JobEvent.model_validate(envelope.message.json_data())
    except (ValidationError, ValueError) as exc:
        logs.log(logger, logging.ERROR, "malformed job event acknowledged", error=str(exc)[:500])
        return
    outcome = job_events_fn.handle(event, jobs=adapters().jobs)
    logs.log(logger, logging.INFO, "job event", outcome=outcome, job_id=event.job_id, kind=event.kind)


@functions_framework.cloud_event
def dead_letter(cloud_event):
    if (envelope := _envelope(cloud_event)) is None:
        return
    dead_letter_fn.handle(envelope.message, jobs=adapters().jobs)
