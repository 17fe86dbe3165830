"""HTTP plumbing shared by the public functions: CORS for the store's origins,
bounded and schema-checked JSON bodies, client identity for rate limits, and
error answers without stack traces."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from pydantic import ValidationError

from adapters.logs import set_trace
from domain.rate_limit import Limit, address_key
from domain.sessions import Sessions

MAX_BODY_BYTES = 4096
# Same rule as UploadUrlRequest.session_id (a signed token, id.timestamp.signature); empty means no session.
SESSION_ID = re.compile(r"^[A-Za-z0-9_\-.]{0,128}$")


def cors_headers(origin: str | None, allowed: list[str]) -> dict[str, str]:
    """CORS headers for an allowed origin; none at all for any other."""
    if not origin or origin not in allowed:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type",
        # The widget reads Retry-After on a 429 to know when to try again.
        "Access-Control-Expose-Headers": "Retry-After",
        "Access-Control-Max-Age": "3600",
        "Vary": "Origin",
    }


def preflight(origin: str | None, allowed: list[str]):
    headers = cors_headers(origin, allowed)
    return ("", 204, headers) if headers else ("", 403, {})


def error(status: int, reason: str, detail: str = "", headers: dict | None = None):
    body = {"error": reason}
    if detail:
        body["detail"] = detail
    return (json.dumps(body), status, {"Content-Type": "application/json", "Cache-Control": "no-store",
                                       **(headers or {})})


def too_many(retry_after: int, headers: dict | None = None):
    return error(429, "rate_limited", f"try again in {retry_after} s",
                 headers={"Retry-After": str(retry_after), **(headers or {})})


def ok(body: dict | str, status: int = 200, headers: dict | None = None):
    text = body if isinstance(body, str) else json.dumps(body, default=str)
    return (text, status, {"Content-Type": "application/json", "Cache-Control": "no-store", **(headers or {})})


class BadRequest(ValueError):
    def __init__(self, reason: str, detail: str = "", status: int = 400):
        super().__init__(detail or reason)
        self.reason, self.detail, self.status = reason, detail, status


def read_json(request) -> object:
    """The request's JSON body: application/json, at most MAX_BODY_BYTES, parsed.
    Raises BadRequest; never reads more than the cap from the socket."""
    mimetype = (request.mimetype or "").lower()
    if mimetype != "application/json":
        # Also keeps cross-site "simple" POSTs (text/plain) out: JSON always needs a preflight.
        raise BadRequest("unsupported_media_type", "send application/json", 415)
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise BadRequest("body_too_large", f"at most {MAX_BODY_BYTES} bytes", 413)
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest("body_too_large", f"at most {MAX_BODY_BYTES} bytes", 413)
    try:
        return json.loads(raw or b"null")
    except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[..." nested past the stack
        raise BadRequest("malformed_json", "the body is not valid JSON") from exc


def parse_body(request, model, cors: dict):
    """(body, None) for a valid JSON body of `model`, else (None, the error answer).
    The answer is not sent yet: the caller counts the request against its rate limits first."""
    try:
        return model.model_validate(read_json(request), strict=True), None
    except BadRequest as exc:
        return None, error(exc.status, exc.reason, exc.detail, headers=cors)
    except ValidationError as exc:
        return None, error(400, "bad_request", describe(exc), headers=cors)


def describe(exc: ValidationError) -> str:
    """Which fields are wrong and why, without echoing the input back."""
    parts = []
    for err in exc.errors(include_input=False, include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)[:300]


def client_ip(request, trusted_hops: int) -> str:
    """The caller's address: the peer, or the entry the last trusted proxy appended
    to X-Forwarded-For (entries left of it are whatever the client sent)."""
    if trusted_hops > 0:
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
        if len(hops) >= trusted_hops:
            return hops[-trusted_hops][:64]
    return (request.remote_addr or "unknown")[:64]


def sessions(settings) -> Sessions:
    return Sessions(settings.session_signing_key, settings.session_ttl_seconds,
                    previous_key=settings.session_signing_key_previous)


def rate_limited(request, function: str, session: str | None, settings, cors: dict, limiter):
    """A 429 answer when this caller's address or session has no token left, else None.

    `session` is a session id the server signed (Sessions.verify), or None. Every request
    without one (none sent, made up, forged, expired) from one address shares a single
    session-sized bucket, so a client that invents a new id per request gets no more
    than one session's allowance. The per-address limit applies to every request; IPv6
    addresses count by their /64 (domain.rate_limit.address_key).
    """
    address = address_key(client_ip(request, settings.trusted_proxy_hops))
    who = f"session:{session}" if session else f"nosession:{address}"
    limits = {f"{function}:ip:{address}": Limit(settings.rate_limit_ip_per_minute, settings.rate_limit_burst),
              f"{function}:{who}": Limit(settings.rate_limit_session_per_minute, settings.rate_limit_burst)}
    # What happens when the shared counters cannot be read: adapters.rate_limits.OutagePolicy.
    decision = limiter().take(limits)
    return None if decision.allowed else too_many(decision.retry_after, cors)


def admit(request, method: str, settings):
    """What every public function does first: tie logs to the trace, answer CORS, check the method.
    Returns (cors headers, refusal); a refusal is the whole answer."""
    set_trace(request.headers.get("X-Cloud-Trace-Context"), settings.google_cloud_project)
    cors, refusal = cors_or_refusal(request, settings.allowed_origins)
    if refusal is None and request.method != method:
        refusal = error(405, "method_not_allowed", headers=cors)
    return cors, refusal


def cors_or_refusal(request, allowed: list[str]):
    """(cors headers, refusal): a preflight answer, or a 403 for a foreign origin."""
    origin = request.headers.get("Origin")
    if request.method == "OPTIONS":
        return None, preflight(origin, allowed)
    cors = cors_headers(origin, allowed)
    if origin and not cors:
        return None, error(403, "origin_not_allowed")
    return cors, None


@dataclass
class Admitted:
    """A public JSON POST that passed admit_json: its body, its verified session (or None) and CORS headers."""
    body: object
    session: str | None
    cors: dict


def admit_json(request, model, function: str, settings, limiter) -> tuple[Admitted | None, object]:
    """What every public JSON POST does, in order: admit (trace, CORS, method), parse the body,
    verify its session, count the request against the rate limits (garbage counts against the
    caller's address as much as a good request does), then refuse a bad body.
    Returns (the admitted request, None) or (None, the whole answer)."""
    cors, refusal = admit(request, "POST", settings)
    if refusal:
        return None, refusal
    body, bad = parse_body(request, model, cors)
    session = sessions(settings).verify(body.session_id) if body else None
    if limited := rate_limited(request, function, session, settings, cors, limiter):
        return None, limited
    if bad:
        return None, bad
    return Admitted(body, session, cors), None
