"""HTTP plumbing shared by the public functions: CORS for the store's origins,
bounded JSON bodies, and error answers without stack traces."""

from __future__ import annotations

import json

MAX_BODY_BYTES = 4096


def cors_headers(origin: str | None, allowed: list[str]) -> dict[str, str]:
    """CORS headers for an allowed origin; none at all for any other."""
    if not origin or origin not in allowed:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type",
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
    return (json.dumps(body), status, {"Content-Type": "application/json", **(headers or {})})


def ok(body: dict | str, status: int = 200, headers: dict | None = None):
    text = body if isinstance(body, str) else json.dumps(body, default=str)
    return (text, status, {"Content-Type": "application/json", "Cache-Control": "no-store", **(headers or {})})


def read_json(request) -> object:
    """The request's JSON body, capped in size; raises ValueError when it is not."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise ValueError("body too large")
    raw = request.get_data(cache=False)[: MAX_BODY_BYTES + 1]
    if len(raw) > MAX_BODY_BYTES:
        raise ValueError("body too large")
    return json.loads(raw or b"null")
