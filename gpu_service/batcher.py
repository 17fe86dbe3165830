"""Dynamic batching: concurrent requests share one forward pass.

Request threads prepare their own inputs, `submit` them and wait on a future;
one thread owns the model and does nothing but forward passes, so decoding,
resizing and encoding never stand between the accelerator and its next batch.
A batch goes as soon as the model is free: it takes what is queued (up to
`max_batch`) and waits at most `max_wait` seconds for more.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any


class Overloaded(RuntimeError):
    """The queue is full: shed the request with a retryable status."""


class OutOfMemory(RuntimeError):
    """Even a batch of one did not fit on the device: a transient failure (retry later)."""


@dataclass
class _Item:
    payload: Any
    future: Future = field(default_factory=Future)
    queued_at: float = field(default_factory=time.perf_counter)


@dataclass
class BatchStats:
    """What the batcher tells the metrics after each forward pass."""
    size: int
    seconds: float
    waits: list[float]


class Batcher:
    def __init__(self, forward: Callable[[list], list], *, max_batch: int = 8, max_wait: float = 0.005,
                 max_queue: int = 64, is_out_of_memory: Callable[[BaseException], bool] = lambda exc: False,
                 release_memory: Callable[[], None] = lambda: None,
                 on_batch: Callable[[BatchStats], None] = lambda stats: None):
        self._forward = forward
        self.max_batch = max(1, max_batch)
        self.max_wait = max_wait
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=max_queue)
        self._is_oom = is_out_of_memory
        self._release = release_memory
        self._on_batch = on_batch
        self._thread = threading.Thread(target=self._loop, name="batcher", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def submit(self, payload: Any) -> Future:
        item = _Item(payload)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            raise Overloaded(f"batch queue full ({self._queue.maxsize} waiting)") from None
        return item.future

    def __call__(self, payload: Any, timeout: float | None = None) -> Any:
        """Submit and wait: what a request thread calls. Past `timeout` it raises TimeoutError,
        and an item still queued is withdrawn (a forward pass already under way runs on)."""
        future = self.submit(payload)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.perf_counter() + self.max_wait
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.perf_counter()))
                except queue.Empty:
                    break
                if item is None:  # closing: finish this batch first
                    self._queue.put(None)
                    break
                batch.append(item)
            # Items whose caller gave up (cancelled) are dropped; the rest can no longer be cancelled.
            batch = [item for item in batch if item.future.set_running_or_notify_cancel()]
            if batch:
                self._run(batch)

    def _run(self, batch: list[_Item]) -> None:
        started = time.perf_counter()
        try:
            outputs = self._forward([item.payload for item in batch])
            if len(outputs) != len(batch):
                raise RuntimeError(f"engine returned {len(outputs)} outputs for a batch of {len(batch)}")
        except Exception as exc:
            if self._is_oom(exc):
                self._release()
                if len(batch) > 1:  # halve and retry: smaller batches may fit
                    half = len(batch) // 2
                    self._run(batch[:half])
                    self._run(batch[half:])
                    return
                exc = OutOfMemory(f"out of device memory on a batch of one: {exc}")
            for item in batch:
                item.future.set_exception(exc)
            return
        for item, output in zip(batch, outputs, strict=True):  # lengths checked above
            item.future.set_result(output)
        try:
            self._on_batch(BatchStats(len(batch), time.perf_counter() - started,
                                      [started - item.queued_at for item in batch]))
        except Exception:  # metrics must never stop the model thread
            pass
