"""The batcher: concurrent submissions share forward passes; OOM splits; a full queue sheds."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from gpu_service.batcher import Batcher, OutOfMemory, Overloaded


class SlowDouble:
    """A model that takes a while per pass and doubles its inputs; records batch sizes."""

    def __init__(self, seconds=0.05, max_fitting=None):
        self.seconds = seconds
        self.max_fitting = max_fitting
        self.sizes: list[int] = []
        self.released = 0

    def __call__(self, batch):
        if self.max_fitting is not None and len(batch) > self.max_fitting:
            raise MemoryError(f"CUDA out of memory for a batch of {len(batch)}")
        self.sizes.append(len(batch))
        time.sleep(self.seconds)
        return [x * 2 for x in batch]

    def release(self):
        self.released += 1


def run_concurrently(batcher, values):
    with ThreadPoolExecutor(len(values)) as pool:
        return list(pool.map(lambda v: batcher(v, timeout=30), values))


def test_concurrent_submissions_share_forward_passes_and_each_gets_its_own_answer():
    model = SlowDouble()
    batcher = Batcher(model, max_batch=4, max_wait=0.02)
    try:
        assert run_concurrently(batcher, list(range(16))) == [v * 2 for v in range(16)]
    finally:
        batcher.close()
    assert sum(model.sizes) == 16 and max(model.sizes) > 1 and max(model.sizes) <= 4


def test_a_lone_request_does_not_wait_for_company_longer_than_max_wait():
    batcher = Batcher(SlowDouble(seconds=0), max_batch=8, max_wait=0.01)
    try:
        started = time.perf_counter()
        assert batcher(21, timeout=5) == 42
        assert time.perf_counter() - started < 0.5
    finally:
        batcher.close()


def test_out_of_memory_splits_the_batch_and_every_request_still_succeeds():
    model = SlowDouble(max_fitting=2)
    batcher = Batcher(model, max_batch=8, max_wait=0.05, is_out_of_memory=lambda e: "out of memory" in str(e),
                      release_memory=model.release)
    try:
        assert run_concurrently(batcher, list(range(8))) == [v * 2 for v in range(8)]
    finally:
        batcher.close()
    assert max(model.sizes) <= 2 and model.released >= 1


def test_out_of_memory_on_a_batch_of_one_fails_that_request_transiently_and_the_batcher_lives_on():
    model = SlowDouble(max_fitting=0)
    batcher = Batcher(model, max_batch=1, is_out_of_memory=lambda e: isinstance(e, MemoryError))
    try:
        with pytest.raises(OutOfMemory, match="batch of one"):
            batcher(1, timeout=5)
        model.max_fitting = None
        assert batcher(2, timeout=5) == 4
    finally:
        batcher.close()


def test_an_engine_error_reaches_every_request_of_its_batch_and_not_the_next():
    calls = []

    def flaky(batch):
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("device lost")
        return batch

    batcher = Batcher(flaky, max_batch=1)
    try:
        with pytest.raises(RuntimeError, match="device lost"):
            batcher("a", timeout=5)
        assert batcher("b", timeout=5) == "b"
    finally:
        batcher.close()


def test_an_engine_returning_the_wrong_number_of_outputs_is_an_error_not_a_hang():
    batcher = Batcher(lambda batch: [], max_batch=1)
    try:
        with pytest.raises(RuntimeError, match="0 outputs for a batch of 1"):
            batcher("x", timeout=5)
    finally:
        batcher.close()


def test_a_full_queue_sheds_instead_of_growing():
    gate = threading.Event()

    def blocked(batch):
        gate.wait(10)
        return batch

    batcher = Batcher(blocked, max_batch=1, max_queue=2)
    try:
        running = batcher.submit("running")
        deadline = time.monotonic() + 5
        while batcher.depth and time.monotonic() < deadline:  # the model thread took it
            time.sleep(0.01)
        queued = [batcher.submit("q1"), batcher.submit("q2")]
        with pytest.raises(Overloaded, match="queue full"):
            batcher.submit("one too many")
        gate.set()
        assert [f.result(5) for f in [running, *queued]] == ["running", "q1", "q2"]
    finally:
        gate.set()
        batcher.close()


def test_a_caller_that_times_out_withdraws_its_queued_item_from_the_next_pass():
    model = SlowDouble(seconds=0.3)
    batcher = Batcher(model, max_batch=1, max_wait=0)
    try:
        busy = batcher.submit(1)  # occupies the model for 0.3 s
        time.sleep(0.05)
        with pytest.raises(TimeoutError):
            batcher(2, timeout=0.05)  # still queued when its caller gives up
        assert busy.result(5) == 2
        assert batcher(3, timeout=5) == 6
        assert model.sizes == [1, 1]  # the withdrawn item never reached the model
    finally:
        batcher.close()
