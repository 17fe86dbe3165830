"""Automatic rollback (HTTP webhook of a Cloud Monitoring alert policy, payload 1.2).

An open incident of a policy configured as a rollback trigger moves 100 % of the
service's traffic to its last known-good revision (recorded by the canary when a
roll-out completes). Once per incident; a closed incident never acts; at most one
rollback per service per window, so two bad signals cannot make traffic flap.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from adapters.cloud_run import CloudRun, TrafficEntry
from adapters.logs import log
from adapters.notify import Notifier
from adapters.ops_store import OpsStore
from events.ops_notices import MonitoringNotification
from settings import Settings

logger = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024


@dataclass
class Answer:
    status: int
    outcome: str
    detail: str = ""

    def body(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "status" and v != ""}


# Query parameters that would carry a secret in the URL. Cloud Run's request logs
# keep the whole URL, so such a call is refused whatever the value, never compared.
SECRET_PARAMS = ("auth_token",)


def authenticate(headers: Mapping[str, str], args: Mapping[str, str], settings: Settings) -> int | None:
    """None when the caller proved the basic-auth credential; else 401 (none given, or a
    secret in the URL) or 403 (wrong).

    Basic auth only: Cloud Monitoring's `webhook_basicauth` channel sends it in the
    Authorization header (infra/monitoring.tf). Compared in constant time; nothing
    configured refuses all."""
    if any(name in args for name in SECRET_PARAMS):
        return 401
    authorization = headers.get("Authorization", "")
    if not authorization:
        return 401
    user = settings.rollback_webhook_user
    # During a rotation (docs/secrets.md) the previous password is accepted too, until it is removed.
    passwords = [p for p in (settings.rollback_webhook_password, settings.rollback_webhook_password_previous) if p]
    if not (user and passwords) or authorization[:6].lower() != "basic ":
        return 403
    try:
        given = base64.b64decode(authorization[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return 403
    # Every candidate compared, each in constant time: which one matched takes no longer than a miss.
    matches = [hmac.compare_digest(given, f"{user}:{password}".encode()) for password in passwords]
    return None if any(matches) else 403


def parse(body: bytes) -> MonitoringNotification:
    """Raises ValueError (or ValidationError) for anything but a version 1.2 notification."""
    if len(body) > MAX_BODY_BYTES:
        raise ValueError("body too large")
    return MonitoringNotification.model_validate(json.loads(body or b"null"))


def handle(note: MonitoringNotification, *, store: OpsStore, cloud_run: CloudRun, notifier: Notifier,
           settings: Settings, now: datetime) -> Answer:
    incident = note.incident
    service = incident.resource.labels.get("service_name") or settings.gpu_service
    fields = dict(incident_id=incident.incident_id, policy=incident.policy_name, service=service)
    if incident.state != "open":
        store.record("rollback_ignored", reason="closed", **fields)
        return Answer(200, "ignored_closed")
    if incident.policy_name not in settings.rollback_policy_names or service != settings.gpu_service:
        store.record("rollback_ignored", reason="not_a_rollback_trigger", **fields)
        return Answer(200, "ignored_policy")
    key = f"rollback:{incident.incident_id}"
    if not store.claim(key, **fields):
        return Answer(200, "duplicate")
    try:
        return _roll_back(service, fields, store=store, cloud_run=cloud_run, notifier=notifier, settings=settings,
                          now=now)
    except Exception:
        store.release(key)  # the monitoring retry (or the next notification) may act
        raise


def _roll_back(service, fields, *, store, cloud_run, notifier, settings, now) -> Answer:
    good = store.known_good(service)
    if good is None:
        store.record("rollback_impossible", reason="no_known_good", **fields)
        notifier.announce(f"Rollback of {service} NOT done (incident {fields['incident_id']}): no known-good revision.")
        return Answer(200, "no_known_good")
    before = cloud_run.traffic(service)
    if all(entry.revision == good for entry in before if entry.percent):
        store.record("rollback_skipped", reason="already_on_known_good", revision=good, **fields)
        return Answer(200, "already_on_known_good", good)
    if not store.take_rollback_slot(service, timedelta(seconds=settings.rollback_window_seconds), now):
        store.record("rollback_suppressed", reason="window", revision=good, **fields)
        notifier.announce(f"Rollback of {service} suppressed (incident {fields['incident_id']}): "
                          f"one already happened in the last {settings.rollback_window_seconds}s.")
        return Answer(200, "suppressed")
    started = time.monotonic()
    try:
        cloud_run.set_traffic(service, restored_split(before, good))
    except Exception:
        store.release_rollback_slot(service, now)
        raise
    seconds = round(time.monotonic() - started, 3)
    split = {e.revision: e.percent for e in before if e.percent}
    store.record("rollback", revision=good, previous=split, seconds=seconds, **fields)
    log(logger, logging.WARNING, "rolled back", revision=good, previous=split, seconds=seconds, **fields)
    notifier.announce(f"Rolled back {service}: 100% of traffic to known-good {good} (was {split}); "
                      f"incident {fields['incident_id']} of '{fields['policy']}', in {seconds}s.")
    return Answer(200, "rolled_back", good)


def restored_split(before: list[TrafficEntry], good: str) -> list[TrafficEntry]:
    """All traffic to `good`; tags stay (at 0 %) so their URLs keep working for debugging."""
    good_tag = next((e.tag for e in before if e.revision == good and e.tag), "")
    kept = {e.tag: e for e in before if e.tag and e.tag != good_tag}
    return [TrafficEntry(good, 100, good_tag), *(TrafficEntry(e.revision, 0, e.tag) for e in kept.values())]
