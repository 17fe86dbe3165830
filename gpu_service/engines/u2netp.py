"""U^2-Net-p on onnxruntime (CPU): the small real model for laptops and CI.

Pre- and post-processing follow rembg's u2netp session step for step (same
normalisation, per-image min-max, LANCZOS back to full size), so masks agree
with rembg's; the one liberty is a reducing gap on the downscale, which makes
shrinking a 12 MP photo several times cheaper at no visible cost.

Serving: the published model has a fixed batch of one, so a batch of several
images runs one image per single-threaded session, all at once (on a few CPU
cores whole images in parallel waste less than one image's small convolutions
split across threads); a lone image, or the odd one left over, runs on one
session that uses every core.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from gpu_service.engines.base import Engine, EngineError, normalise
from gpu_service.engines.weights import U2NETP_SHA256, sha256

SIZE = (320, 320)


class U2NetP(Engine):
    name = "u2netp"
    mode = "320"
    weights = "u2netp.onnx"

    def __init__(self, model_path: str | os.PathLike | None = None, model_dir: str | os.PathLike | None = None,
                 threads: int = 0, sessions: int = 0):
        folder = Path(model_dir or os.environ.get("MODEL_DIR", ".models"))
        path = Path(model_path or folder / self.weights)
        if not path.is_file():
            raise EngineError(f"U^2-Net-p weights not found at {path}: run `make models`")
        self.checksum = self.verify(path)
        self._wide = _session(path, threads, spin=False)  # a lone image: a thread per core (onnxruntime's default)
        # U2NETP_SESSIONS=1: one session only (each busy session keeps its own arena, ~0.45 GiB).
        count = sessions or int(os.environ.get("U2NETP_SESSIONS") or 0) or len(os.sched_getaffinity(0))
        self._narrow = [_session(path, 1) for _ in range(count)] if count > 1 else []
        self._pool = ThreadPoolExecutor(len(self._narrow), thread_name_prefix="u2netp") if self._narrow else None
        self._input = self._wide.get_inputs()[0].name
        self._output = self._wide.get_outputs()[0].name  # d0, the fused mask; the six side outputs are not fetched

    def verify(self, path: Path) -> str:
        """The weights' identity (the mask cache keys on it); refuses any but the pinned ones."""
        checksum = sha256(path)
        if checksum != U2NETP_SHA256:
            raise EngineError(f"U^2-Net-p weights at {path} fail their checksum (sha256 {checksum})")
        return checksum

    def prepare(self, image: Image.Image) -> np.ndarray:
        small = np.asarray(image.convert("RGB").resize(SIZE, Image.Resampling.LANCZOS, reducing_gap=3.0),
                           dtype=np.float32)
        # rembg's u2netp pre-processing: scaled by the image's own maximum, not by 255.
        return normalise(small / max(float(small.max()), 1e-6))

    def forward(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        n = len(self._narrow)
        if not n or len(batch) == 1:
            return [self._run(self._wide, x) for x in batch]
        # Whole rounds of n images, one per session at once; a last odd image on every core.
        rounds = len(batch) // n * n if len(batch) % n == 1 else len(batch)
        shares = [(self._narrow[k], batch[k:rounds:n]) for k in range(min(n, rounds))]
        done = list(self._pool.map(lambda share: [self._run(share[0], x) for x in share[1]], shares))
        return [done[i % n][i // n] for i in range(rounds)] + [self._run(self._wide, x) for x in batch[rounds:]]

    def _run(self, session, x: np.ndarray) -> np.ndarray:
        return session.run([self._output], {self._input: x[None].astype(np.float32, copy=False)})[0][0, 0]

    def finish(self, prediction: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        lo, hi = float(prediction.min()), float(prediction.max())
        pred = (prediction - lo) / max(hi - lo, 1e-6)
        mask = Image.fromarray((pred * 255).astype(np.uint8), "L").resize(size, Image.Resampling.LANCZOS)
        return np.asarray(mask, dtype=np.float32) / 255.0


def _session(path: Path, threads: int, spin: bool = True):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    if not spin:
        # Idle pool threads sleep instead of spinning: a spinning thread holds a core that the
        # thread it waits for (descheduled on a shared machine) or our own request threads need.
        # https://onnxruntime.ai/docs/performance/tune-performance/threading.html
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise EngineError(f"onnxruntime cannot load {path}: {exc}") from exc
