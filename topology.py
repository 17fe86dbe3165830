"""topology.yaml read with its ${VAR:-default} placeholders filled: the buckets, topics,
subscriptions, functions and services the project declares once.

One loader for everyone who needs the declaration: the release (deploy/), Terraform's tests,
and the local stack, which applies it to the emulators (local_stack/provision.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import yaml

TOPOLOGY_FILE = Path(__file__).resolve().parent / "topology.yaml"
_VAR = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")


def load(path: Path = TOPOLOGY_FILE, env: dict[str, str] | None = None) -> dict:
    """The topology with ${VAR:-default} filled from `env` (the process's by default)."""
    env = os.environ if env is None else env
    text = _VAR.sub(lambda m: env.get(m.group(1), m.group(2) or ""), path.read_text())
    return yaml.safe_load(text)


def cors_rules(bucket: dict) -> list[dict]:
    """A bucket's declared CORS as Cloud Storage's JSON API spells it ([] for none)."""
    if not (cors := bucket.get("cors")):
        return []
    return [{
        "origin": [o.strip() for o in cors["origins"].split(",") if o.strip()],
        "method": cors["methods"],
        "responseHeader": cors["response_headers"],
        "maxAgeSeconds": cors["max_age_seconds"],
    }]


def push_target(subscription: dict, function_url: Callable[[str], str | None],
                service_url: Callable[[str], str]) -> str | None:
    """Where a subscription pushes; None when its function is not running here."""
    push = subscription["push"]
    if "function" in push:
        return function_url(push["function"])
    return service_url(push["service"]).rstrip("/") + push["path"]
