"""U^2-Net-p on onnxruntime (CPU): the small real model for laptops and CI."""

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

    def __init__(self, model_path: str | os.PathLike | None = None, threads: int = 0):
        import onnxruntime as ort

        path = Path(model_path or Path(os.environ.get("MODEL_DIR", ".models")) / "u2netp.onnx")
        if not path.is_file():
            raise EngineError(f"U^2-Net-p weights not found at {path}: run `make models`")
        self.checksum = sha256(path)
        if self.checksum != U2NETP_SHA256:
            raise EngineError(f"U^2-Net-p weights at {path} fail their checksum")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def _tensor(self, image: Image.Image) -> np.ndarray:
        # The same normalisation rembg applies, so masks match it pixel for pixel.
        small = np.asarray(image.convert("RGB").resize(SIZE, Image.Resampling.LANCZOS), dtype=np.float32)
        small = small / max(float(small.max()), 1e-6)
        return ((small - MEAN) / STD).transpose(2, 0, 1)

    def predict(self, images: list[Image.Image]) -> list[np.ndarray]:
        batch = np.stack([self._tensor(im) for im in images]).astype(np.float32)
        out = self._session.run(None, {self._input: batch})[0][:, 0]
        masks = []
        for pred, image in zip(out, images):
            lo, hi = float(pred.min()), float(pred.max())
            pred = (pred - lo) / max(hi - lo, 1e-6)
            mask = Image.fromarray((pred * 255).astype(np.uint8)).resize(image.size, Image.Resampling.LANCZOS)
            masks.append(np.asarray(mask, dtype=np.float32) / 255.0)
        return masks

    def info(self) -> dict:
        return {**super().info(), "mode": "320", "checkpoint_sha256": self.checksum}
