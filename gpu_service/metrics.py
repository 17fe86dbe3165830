"""Prometheus metrics of the GPU service (the default registry also carries
process_resident_memory_bytes and friends from prometheus_client)."""

from __future__ import annotations

import json
import logging

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from adapters.messages import Publisher

logger = logging.getLogger(__name__)

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)

REQUESTS = Counter("segment_requests_total", "Push requests to /pubsub/segment, by outcome", ["outcome"])
STAGE_SECONDS = Histogram("segment_stage_seconds", "Seconds one job spent in each stage", ["stage"], buckets=_SECONDS)
BATCH_SIZE = Histogram("segment_batch_size", "Images per forward pass", buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32))
WARMUPS = Counter("warmup_requests_total", "Calls to /warmup (pre-warm ticks and shoppers' pushes), by outcome",
                  ["outcome"])
QUEUE_DEPTH = Gauge("segment_queue_depth", "Prepared images waiting for the model")
IN_FLIGHT = Gauge("segment_in_flight", "Push requests admitted and not yet answered")
MODEL_LOAD_SECONDS = Gauge("model_load_seconds", "Seconds to load the engine")
COLD_START_SECONDS = Gauge("cold_start_seconds", "Seconds from process start to ready (model loaded and warmed)")
DEVICE_MEMORY_BYTES = Gauge("gpu_memory_bytes", "Device memory reserved by the engine (0 on CPU)")

def observe_stage(stage: str, seconds: float) -> None:
    STAGE_SECONDS.labels(stage).observe(seconds)


def exposition() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST


class StageObservingPublisher(Publisher):
    """Reads the per-stage timings the worker puts in its final job events.

    The worker already times download, decode, segment, encode and upload for
    the job's record; observing them where they are published keeps one
    source of truth for both."""

    def __init__(self, publisher: Publisher):
        self._publisher = publisher

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        if attributes.get("kind") in ("succeeded", "failed"):
            try:
                for stage, seconds in (json.loads(data).get("timings") or {}).items():
                    observe_stage(stage, float(seconds))
            except (ValueError, TypeError, AttributeError):
                logger.warning("job event without readable timings")
        return self._publisher.publish(topic, data, **attributes)
