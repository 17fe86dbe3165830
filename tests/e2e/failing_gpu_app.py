"""The GPU service answering 500 to everything but its readiness probes, for the release
gate's drill (tests/e2e/test_validation.py): it loads, so the stack starts it, and then
fails every push, /health and /metrics as a broken revision would."""

from __future__ import annotations

from gpu_service.app import app as service

PROBES = {"/ready", "/healthz"}


async def app(scope, receive, send):
    if scope["type"] == "http" and scope["path"] not in PROBES:
        await send({"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"injected fault\n"})
        return
    await service(scope, receive, send)
