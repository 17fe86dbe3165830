"""The service's process-wide state: the engine (loaded once), its batcher, the worker,
and admission control (how many pushes may be in the house at once)."""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

import numpy as np
import psutil
from PIL import Image

from adapters.logs import log
from domain.cache import EngineIdentity
from gpu_service import metrics
from gpu_service.batcher import Batcher, BatchStats
from gpu_service.engines import Engine, EngineError, new_engine
from gpu_service.worker import Worker
from settings import Settings

logger = logging.getLogger(__name__)

# Start-up in order; /health reports the stage reached and the share of them done.
LOAD_STAGES = ("not_loaded", "loading_model", "warming", "ready")


def limit_heap_growth() -> bool:
    """Stop glibc from hoarding freed image buffers (the RSS creep rembg users report).

    By default glibc raises its mmap threshold each time a big block is freed, so
    later 36 MB photo buffers come from per-thread heaps that fragment and are not
    given back; and each thread may get its own arena. A fixed 1 MiB threshold
    sends every image-sized buffer to mmap (returned to the OS on free), and two
    arenas bound the rest. Same as MALLOC_MMAP_THRESHOLD_=1048576 MALLOC_ARENA_MAX=2.
    Measured by bench/memory.py. A no-op where the C library is not glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_mmap_threshold, m_arena_max = -3, -8
    return bool(libc.mallopt(m_mmap_threshold, 1 << 20)) and bool(libc.mallopt(m_arena_max, 2))


def engine_options(settings: Settings) -> dict:
    if settings.engine == "inspyrenet":
        return {"mode": settings.inspyrenet_mode, "ckpt": settings.inspyrenet_ckpt or None,
                "device": settings.engine_device or None, "fp16": settings.engine_fp16,
                "model_dir": settings.model_dir}
    return {"model_dir": settings.model_dir}


def _observe_batch(stats: BatchStats) -> None:
    metrics.BATCH_SIZE.observe(stats.size)
    for wait in stats.waits:
        metrics.observe_stage("queue", wait)
        metrics.observe_stage("inference", stats.seconds)


class Runtime:
    def __init__(self, settings: Settings, adapters: Callable | None = None,
                 engine_factory: Callable[[], Engine] | None = None):
        self.settings = settings
        limit_heap_growth()
        self._adapters = adapters
        self._engine_factory = engine_factory or (lambda: new_engine(settings.engine, **engine_options(settings)))
        self.engine: Engine | None = None
        self.batcher: Batcher | None = None
        self.worker: Worker | None = None
        self.load_seconds: float | None = None
        self._lock = threading.Lock()
        self._warm_lock = threading.Lock()
        self._warmed = False
        self._pending = 0
        self._pending_lock = threading.Lock()
        self.stage, self.stage_since, self.load_error = LOAD_STAGES[0], time.time(), ""
        metrics.QUEUE_DEPTH.set_function(lambda: self.batcher.depth if self.batcher else 0)
        metrics.DEVICE_MEMORY_BYTES.set_function(lambda: self.engine.memory_bytes() if self.engine else 0)

    @property
    def ready(self) -> bool:
        return self.worker is not None

    def load(self) -> None:
        """Load the engine and wire the worker; idempotent and thread-safe."""
        with self._lock:
            if self.worker is not None:
                return
            if self._adapters is None:
                from bootstrap import adapters as default_adapters

                self._adapters = default_adapters
            a = self._adapters()
            self._enter("loading_model")
            started = time.perf_counter()
            try:
                time.sleep(self.settings.model_load_delay_seconds)  # drills only (a slow cold start)
                engine = self._engine_factory()
            except Exception as exc:
                self._enter("failed")
                self.load_error = str(exc)[:300]
                raise
            settings = self.settings
            self.batcher = Batcher(engine.forward, max_batch=settings.batch_max_size,
                                   max_wait=settings.batch_max_wait_ms / 1000,
                                   max_queue=max(settings.max_pending, settings.batch_max_size) * 2,
                                   is_out_of_memory=engine.is_out_of_memory, release_memory=engine.release_memory,
                                   on_batch=_observe_batch)
            self.engine = engine
            self.load_seconds = time.perf_counter() - started
            metrics.MODEL_LOAD_SECONDS.set(self.load_seconds)
            self.worker = Worker(blobs=a.blobs, leases=a.leases, publisher=metrics.StageObservingPublisher(a.publisher),
                                 segment=self.segment, settings=settings,
                                 identity=EngineIdentity(engine.name, engine.checksum))
            # A job queued before this moment waited for this instance to start (a cold start).
            self.worker.ready_at = datetime.now(timezone.utc)
            log(logger, logging.INFO, "model loaded", seconds=round(self.load_seconds, 3), **engine.info())

    def segment(self, image: Image.Image, timeout: float | None = None) -> np.ndarray:
        """The worker's segmenter: prepare here (the request's thread), forward in the batch, finish here.
        Raises TimeoutError when the forward pass has not come back within `timeout` seconds."""
        clock = time.perf_counter()
        prepared = self.engine.prepare(image)
        metrics.observe_stage("preprocess", time.perf_counter() - clock)
        prediction = self.batcher(prepared, timeout)
        clock = time.perf_counter()
        mask = self.engine.finish(prediction, image.size)
        metrics.observe_stage("postprocess", time.perf_counter() - clock)
        return mask

    def load_or_exit(self) -> None:
        """Start-up: load and warm, or stop the process with one clear error."""
        try:
            self.warm()
        except EngineError as exc:
            log(logger, logging.CRITICAL, "cannot start: model failed to load", error=str(exc))
            os._exit(3)
        cold = time.time() - psutil.Process().create_time()
        metrics.COLD_START_SECONDS.set(cold)
        log(logger, logging.INFO, "ready", cold_start_seconds=round(cold, 3))

    def warm(self) -> None:
        """Load, then one forward pass so the first shopper does not pay for it. Idempotent;
        concurrent callers wait for the one doing the work."""
        self.load()
        with self._warm_lock:
            if not self._warmed:
                self._enter("warming")
                self.segment(Image.new("RGB", (64, 64), "gray"))
                self._warmed = True
                self._enter("ready")

    def _enter(self, stage: str) -> None:
        self.stage, self.stage_since = stage, time.time()

    def health(self) -> dict:
        """What /health reports: load state and progress, memory, queue, revision. Never raises."""
        process = psutil.Process()
        done = LOAD_STAGES.index(self.stage) if self.stage in LOAD_STAGES else 0
        engine = self.engine
        return {
            "status": "ok" if self._warmed else ("failed" if self.stage == "failed" else "starting"),
            "model": {"stage": self.stage, "progress": round(done / (len(LOAD_STAGES) - 1), 3),
                      "seconds_in_stage": round(time.time() - self.stage_since, 3),
                      "load_seconds": None if self.load_seconds is None else round(self.load_seconds, 3),
                      "error": self.load_error or None, **(engine.info() if engine else {})},
            "memory": {"rss_bytes": process.memory_info().rss,
                       "gpu_bytes": engine.memory_bytes() if engine else 0},
            "queue": {"depth": self.batcher.depth if self.batcher else 0, "in_flight": self._pending,
                      "max_pending": self.settings.max_pending},
            # Cloud Run sets K_SERVICE and K_REVISION in every container:
            # https://cloud.google.com/run/docs/container-contract#env-vars
            "revision": os.environ.get("K_REVISION", "local"),
            "service": os.environ.get("K_SERVICE", ""),
            "uptime_seconds": round(time.time() - process.create_time(), 3),
        }

    # Admission: beyond max_pending, a push is shed at once (no download, no decode).
    def try_admit(self) -> bool:
        with self._pending_lock:
            if self._pending >= self.settings.max_pending:
                return False
            self._pending += 1
            metrics.IN_FLIGHT.set(self._pending)
            return True

    def release(self) -> None:
        with self._pending_lock:
            self._pending -= 1
            metrics.IN_FLIGHT.set(self._pending)

    def info(self) -> dict:
        settings = self.settings
        return {**self.engine.info(), "load_seconds": round(self.load_seconds or 0, 3), "warmed": self._warmed,
                "batch_max_size": settings.batch_max_size, "batch_max_wait_ms": settings.batch_max_wait_ms,
                "max_pending": settings.max_pending}
