"""Structured JSON logs in the shape Cloud Logging reads from stdout."""

from __future__ import annotations

import contextvars
import json
import logging
import sys

_trace = contextvars.ContextVar("trace", default="")

_SEVERITY = {"WARNING": "WARNING", "CRITICAL": "CRITICAL", "ERROR": "ERROR", "INFO": "INFO", "DEBUG": "DEBUG"}


def set_trace(header: str | None, project: str) -> None:
    """Tie the following log lines to the request's trace (X-Cloud-Trace-Context or traceparent)."""
    if not header:
        _trace.set("")
        return
    trace_id = header.split("-")[1] if header.startswith("00-") else header.split("/")[0]
    _trace.set(f"projects/{project}/traces/{trace_id}")


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
        return json.dumps(entry, default=str)


def setup(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def log(logger: logging.Logger, level: int, message: str, **fields) -> None:
    """Log with structured fields (they become top-level keys of the JSON entry)."""
    logger.log(level, message, extra={"fields": fields})
