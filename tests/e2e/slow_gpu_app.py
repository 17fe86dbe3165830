"""The GPU service with a forward pass slowed down to SLOW_FORWARD_SECONDS, for the long-job drill.

Everything else is the real service: its push route, worker, leases, batcher and
the configured engine; only the engine's forward pass sleeps first.
"""

from __future__ import annotations

import os
import time

from gpu_service.app import create_app
from gpu_service.engines import new_engine
from gpu_service.runtime import Runtime, engine_options
from settings import get_settings


class SlowEngine:
    """The configured engine, whose every forward pass but the start-up's warm-up takes `seconds` longer
    (the drill waits on jobs, not on the warm-up)."""

    def __init__(self, engine, seconds: float):
        self._engine, self._seconds = engine, seconds
        self._passes = 0

    def forward(self, batch):
        self._passes += 1
        if self._passes > 1:  # the first pass is Runtime.warm's, before the service is ready
            time.sleep(self._seconds)
        return self._engine.forward(batch)

    def __getattr__(self, name):
        return getattr(self._engine, name)


settings = get_settings()
runtime = Runtime(settings, engine_factory=lambda: SlowEngine(
    new_engine(settings.engine, **engine_options(settings)), float(os.environ.get("SLOW_FORWARD_SECONDS", "8"))))
app = create_app(runtime)
