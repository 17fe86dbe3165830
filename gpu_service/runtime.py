"""The service's process-wide state: the engine, loaded once, and the worker."""

from __future__ import annotations

import logging
import os
import threading
import time

from PIL import Image

from adapters.logs import log
from gpu_service.engines import EngineError, new_engine
from gpu_service.worker import Worker
from settings import Settings

logger = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.engine = None
        self.worker: Worker | None = None
        self.load_seconds: float | None = None
        self._lock = threading.Lock()
        self._warmed = False

    @property
    def ready(self) -> bool:
        return self.worker is not None

    def load(self) -> None:
        """Load the engine and wire the worker; idempotent and thread-safe."""
        with self._lock:
            if self.worker is not None:
                return
            from bootstrap import adapters

            started = time.perf_counter()
            engine = new_engine(self.settings.engine)
            a = adapters()
            self.engine = engine
            self.worker = Worker(blobs=a.blobs, leases=a.leases, publisher=a.publisher,
                                 segment=lambda image: engine.predict([image])[0], settings=self.settings)
            self.load_seconds = time.perf_counter() - started
            log(logger, logging.INFO, "model loaded", seconds=round(self.load_seconds, 3), **engine.info())

    def load_or_exit(self) -> None:
        try:
            self.load()
        except EngineError as exc:
            log(logger, logging.CRITICAL, "cannot start: model failed to load", error=str(exc))
            os._exit(3)

    def warm(self) -> None:
        """Load, then one forward pass so the first shopper does not pay for it."""
        self.load()
        with self._lock:
            if not self._warmed:
                self.engine.predict([Image.new("RGB", (64, 64), "gray")])
                self._warmed = True
