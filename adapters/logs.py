"""Structured JSON logs in the shape Cloud Logging reads from stdout.

No line carries a secret: every value `redact()` was given (the settings' secrets, from
`setup`), and each long part of a secret URL's path, is replaced in the finished line, so a
message, a field and a stack trace are all covered, whoever wrote them (requests puts a whole
URL into its exceptions' text)."""

from __future__ import annotations

import contextvars
import json
import logging
import sys

_trace = contextvars.ContextVar("trace", default="")

_SECRETS: set[str] = set()
_ORDERED: list[str] = []  # _SECRETS, longest first (redact keeps it)
MIN_SECRET_CHARS = 8  # shorter parts (a host's "services", a user name) are not secret and would over-match
REDACTED = "[redacted]"

_SEVERITY = {"WARNING": "WARNING", "CRITICAL": "CRITICAL", "ERROR": "ERROR", "INFO": "INFO", "DEBUG": "DEBUG"}


def set_trace(header: str | None, project: str) -> None:
    """Tie the following log lines to the request's trace (X-Cloud-Trace-Context or traceparent)."""
    if not header:
        _trace.set("")
        return
    trace_id = header.split("-")[1] if header.startswith("00-") else header.split("/")[0]
    _trace.set(f"projects/{project}/traces/{trace_id}")


def redact(*values: str) -> None:
    """From now on no log line shows any of `values`, nor any long part of a URL's path among them."""
    for value in values:
        if not value:
            continue
        parts = [value]
        if "://" in value:
            rest = value.split("://", 1)[1]
            path = rest.split("/", 1)[1] if "/" in rest else ""
            parts += [path, *path.replace("?", "/").replace("&", "/").replace("=", "/").split("/")]
        for part in parts:
            if len(part) >= MIN_SECRET_CHARS:
                _SECRETS.update({part, json.dumps(part)[1:-1]})  # as written, and inside a JSON string
    # Kept sorted here, once, not per log line: longest first, so a URL goes before its parts.
    _ORDERED[:] = sorted(_SECRETS, key=len, reverse=True)


def scrub(text: str) -> str:
    """`text` with every registered secret replaced."""
    for secret in _ORDERED:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "severity": _SEVERITY.get(record.levelname, "DEFAULT"),
            "message": record.getMessage(),
            "logger": record.name,
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
        }
        if trace := _trace.get():
            entry["logging.googleapis.com/trace"] = trace
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return scrub(json.dumps(entry, default=str))


def setup(level: str = "INFO", secrets: tuple[str, ...] = ()) -> None:
    redact(*secrets)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def log(logger: logging.Logger, level: int, message: str, **fields) -> None:
    """Log with structured fields (they become top-level keys of the JSON entry)."""
    logger.log(level, message, extra={"fields": fields})
