"""U^2-Net-p on onnxruntime (CPU): the small real model for laptops and CI.

Pre- and post-processing follow rembg's u2netp session step for step (same
normalisation, per-image min-max, LANCZOS back to full size), so masks agree
with rembg's; the one liberty is a reducing gap on the downscale, which makes
shrinking a 12 MP photo several times cheaper at no visible cost.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from gpu_service.engines.base import Engine, EngineError
from gpu_service.models import U2NETP_SHA256, sha256

SIZE = (320, 320)
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


class U2NetP(Engine):
    name = "u2netp"
    mode = "320"

    def __init__(self, model_path: str | os.PathLike | None = None, model_dir: str | os.PathLike | None = None,
                 threads: int = 0):
        import onnxruntime as ort

        folder = Path(model_dir or os.environ.get("MODEL_DIR", ".models"))
        path = Path(model_path or folder / "u2netp.onnx")
        if not path.is_file():
            raise EngineError(f"U^2-Net-p weights not found at {path}: run `make models`")
        self.checksum = sha256(path)
        if self.checksum != U2NETP_SHA256:
            raise EngineError(f"U^2-Net-p weights at {path} fail their checksum (sha256 {self.checksum})")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise EngineError(f"onnxruntime cannot load {path}: {exc}") from exc
        self._input = self._session.get_inputs()[0].name

    def prepare(self, image: Image.Image) -> np.ndarray:
        small = np.asarray(image.convert("RGB").resize(SIZE, Image.Resampling.LANCZOS, reducing_gap=3.0),
                           dtype=np.float32)
        small = small / max(float(small.max()), 1e-6)
        return ((small - MEAN) / STD).transpose(2, 0, 1)

    def forward(self, batch: list[np.ndarray]) -> list[np.ndarray]:
        # The published model file has a fixed batch dimension of 1: one run per image.
        return [self._session.run(None, {self._input: x[None].astype(np.float32)})[0][0, 0] for x in batch]

    def finish(self, prediction: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        lo, hi = float(prediction.min()), float(prediction.max())
        pred = (prediction - lo) / max(hi - lo, 1e-6)
        mask = Image.fromarray((pred * 255).astype(np.uint8), "L").resize(size, Image.Resampling.LANCZOS)
        return np.asarray(mask, dtype=np.float32) / 255.0
