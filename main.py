"""Cloud Functions entry points (functions-framework targets), thin on purpose.

Each decodes its request or CloudEvent into an events/ schema and calls the
plain handler in functions/. Pub/Sub-triggered targets read their message through
`_message`, which acknowledges (returns) a malformed one after logging it, since a retry
would never fix it; any other error raises, so Pub/Sub retries with backoff and finally
dead-letters.
"""

import logging
from datetime import datetime, timezone

import functions_framework
from pydantic import ValidationError

from adapters import logs
from bootstrap import adapters, operations, rate_limiter
from domain.uploads import Rejected
from domain.variants import VariantRequest
from events.ops_notices import BudgetNotification
from events.schemas import (
    GcsObjectEvent,
    JobEvent,
    PushEnvelope,
    RenderRequest,
    StatusRequest,
    UploadUrlRequest,
    WarmRequest,
)
from functions import budget_guard as budget_guard_fn
from functions import cost_report as cost_report_fn
from functions import dead_letter as dead_letter_fn
from functions import health_check as health_check_fn
from functions import http
from functions import intake as intake_fn
from functions import job_events as job_events_fn
from functions import job_status as job_status_fn
from functions import kpi_report as kpi_report_fn
from functions import prewarm as prewarm_fn
from functions import rollback as rollback_fn
from functions import upload_url as upload_url_fn
from functions import variant as variant_fn
from functions import warm as warm_fn
from settings import get_settings

logs.setup(get_settings().log_level, secrets=get_settings().secrets)
logger = logging.getLogger("main")


def _message(cloud_event, parse, what: str):
    """The push's Pub/Sub message read by `parse`, or None once logged: a malformed message is
    acknowledged (the target returns), since a retry would never fix it."""
    try:
        envelope = PushEnvelope.model_validate(cloud_event.data)
    except (ValidationError, TypeError) as exc:
        logs.log(logger, logging.ERROR, "malformed Pub/Sub event acknowledged", error=str(exc)[:500])
        return None
    try:
        return parse(envelope.message)
    except (ValidationError, ValueError, TypeError, AttributeError) as exc:  # e.g. "size": [], data a list
        logs.log(logger, logging.ERROR, f"malformed {what} acknowledged", error=str(exc)[:500])
        return None


def _json(model):
    """A parser for `_message`: the message's JSON data as `model`."""
    return lambda message: model.model_validate(message.json_data())


@functions_framework.http
def upload_url(request):
    settings = get_settings()
    admitted, refusal = http.admit_json(request, UploadUrlRequest, "upload_url", settings, rate_limiter)
    if admitted is None:
        return refusal
    body, session, cors = admitted.body, admitted.session, admitted.cors
    # A valid session is kept; any other gets a new one, which the widget sends back from now on.
    token = body.session_id
    if session is None:
        session, token = http.sessions(settings).issue()
    pipeline = adapters()
    try:
        response = upload_url_fn.handle(body.model_copy(update={"session_id": session}), jobs=pipeline.jobs,
                                        blobs=pipeline.blobs, settings=settings)
    except Rejected as rejected:
        return http.error(400, rejected.reason, rejected.detail, headers=cors)
    return http.ok(response.model_copy(update={"session_id": token}).model_dump_json(), 201, headers=cors)


@functions_framework.http
def job_status(request):
    """POST {job_id, session_id}: the job's status, for the session that created it only."""
    settings = get_settings()
    admitted, refusal = http.admit_json(request, StatusRequest, "job_status", settings, rate_limiter)
    if admitted is None:
        return refusal
    pipeline = adapters()
    body = job_status_fn.handle(admitted.body.job_id, admitted.session, jobs=pipeline.jobs, blobs=pipeline.blobs,
                                settings=settings)
    if body is None:
        # The same answer for a malformed id, an unknown one, another session's job and no session.
        return http.error(404, "not_found", headers=admitted.cors)
    return http.ok(body, headers=admitted.cors)


@functions_framework.http
def warm(request):
    """A shopper's intent to upload: answered 202 at once, whatever the policy decides."""
    settings = get_settings()
    admitted, refusal = http.admit_json(request, WarmRequest, "warm", settings, rate_limiter)
    if admitted is None:
        return refusal
    cors = admitted.cors
    a = adapters()
    summary = warm_fn.handle(datetime.now(timezone.utc), store=operations().store, jobs=a.jobs, publisher=a.publisher,
                             settings=settings)
    # The outcome only: the policy's reasons (budget, emergency) are the store's business.
    return http.ok({"outcome": summary["outcome"]}, 202, headers=cors)


@functions_framework.http
def variant(request):
    """A done job's cut-out rendered to a spec from its stored mask (no GPU): a signed GET URL."""
    settings = get_settings()
    admitted, refusal = http.admit_json(request, VariantRequest, "variant", settings, rate_limiter)
    if admitted is None:
        return refusal
    body, cors = admitted.body, admitted.cors
    pipeline = adapters()
    try:
        answer = variant_fn.handle(body, admitted.session, jobs=pipeline.jobs, blobs=pipeline.blobs,
                                   settings=settings)
    except variant_fn.Refused as refused:
        return http.error(refused.status, refused.reason, refused.detail, headers=cors)
    return http.ok(answer, headers=cors)


@functions_framework.cloud_event
def intake(cloud_event):
    if (event := _message(cloud_event, GcsObjectEvent.from_message, "storage notification")) is None:
        return
    pipeline = adapters()
    outcome = intake_fn.handle(event, jobs=pipeline.jobs, blobs=pipeline.blobs, publisher=pipeline.publisher,
                               settings=pipeline.settings)
    logs.log(logger, logging.INFO, "intake", outcome=outcome, object=event.name, generation=event.generation)


@functions_framework.cloud_event
def job_events(cloud_event):
    if (event := _message(cloud_event, _json(JobEvent), "job event")) is None:
        return
    outcome = job_events_fn.handle(event, jobs=adapters().jobs)
    logs.log(logger, logging.INFO, "job event", outcome=outcome, job_id=event.job_id, kind=event.kind)


@functions_framework.cloud_event
def render(cloud_event):
    # Imported here, not above: numpy and OpenCV (cutout/imaging.py) would otherwise
    # load into every function, intake's measured memory budget included.
    from functions import render as render_fn

    if (request := _message(cloud_event, _json(RenderRequest), "render request")) is None:
        return
    a = adapters()
    outcome = render_fn.handle(request, blobs=a.blobs, publisher=a.publisher, settings=a.settings)
    logs.log(logger, logging.INFO, "render", outcome=outcome, job_id=request.job_id)


@functions_framework.cloud_event
def dead_letter(cloud_event):
    if (message := _message(cloud_event, lambda m: m, "dead letter")) is None:
        return
    pipeline = adapters()
    dead_letter_fn.handle(message, jobs=pipeline.jobs, leases=pipeline.leases)


@functions_framework.http
def prewarm(request):
    ops = operations()
    summary = prewarm_fn.handle(datetime.now(timezone.utc), store=ops.store, jobs=ops.jobs,
                                cloud_run=ops.cloud_run, caller=ops.caller, settings=ops.settings)
    return http.ok(summary)


@functions_framework.cloud_event
def budget_guard(cloud_event):
    if (note := _message(cloud_event, BudgetNotification.from_message, "budget notification")) is None:
        return
    ops = operations()
    outcome = budget_guard_fn.handle(note, store=ops.store, cloud_run=ops.cloud_run,
                                     notifier=ops.notifier, settings=ops.settings)
    logs.log(logger, logging.INFO, "budget notification", outcome=outcome, budget_id=note.budget_id,
             fraction=note.fraction)


@functions_framework.http
def rollback(request):
    if (refused := rollback_fn.authenticate(request.headers, request.args, get_settings())) is not None:
        # Names only, never values or the URL: a refused call may carry a secret.
        logs.log(logger, logging.WARNING, "rollback webhook refused", status=refused, remote=request.remote_addr,
                 secret_in_url=any(name in request.args for name in rollback_fn.SECRET_PARAMS))
        return http.error(refused, "unauthorized" if refused == 401 else "forbidden",
                          headers={"WWW-Authenticate": 'Basic realm="rollback"'} if refused == 401 else None)
    try:
        note = rollback_fn.parse(request.get_data(cache=False)[: rollback_fn.MAX_BODY_BYTES + 1])
    except (ValueError, ValidationError) as exc:
        return http.error(400, "bad_request", str(exc).splitlines()[0][:200])
    ops = operations()
    answer = rollback_fn.handle(note, store=ops.store, cloud_run=ops.cloud_run,
                                notifier=ops.notifier, settings=ops.settings,
                                now=datetime.now(timezone.utc))
    return http.ok(answer.body(), answer.status)


@functions_framework.http
def cost_report(request):
    ops = operations()
    return http.ok(cost_report_fn.handle(store=ops.store, jobs=ops.jobs))


@functions_framework.http
def kpi_report(request):
    ops = operations()
    try:
        body, fmt = kpi_report_fn.handle(request.args, source=ops.report_source,
                                         request_counts=ops.request_counts,
                                         service=ops.settings.gpu_service, now=datetime.now(timezone.utc))
    except kpi_report_fn.BadRequest as exc:
        return http.error(400, "bad_request", str(exc))
    return (body, 200, {"Content-Type": "text/plain; charset=utf-8"}) if fmt == "table" else http.ok(body)


@functions_framework.http
def health_check(request):
    ops = operations()
    return http.ok(health_check_fn.handle(store=ops.store, source=ops.report_source,
                                          request_counts=ops.request_counts, caller=ops.caller,
                                          notifier=ops.notifier, settings=ops.settings,
                                          now=datetime.now(timezone.utc)))
