"""InSPyReNet (transparent-background) on torch: the production engine, fp16 on CUDA.

Loading goes through the package's own `Remover` (its config, its download when
no checkpoint is given, its strict `load_state_dict`); inference does not: the
package's `process()` takes one image and normalises the saliency map over the
whole batch, so we build the input tensors ourselves and normalise per image.
That also keeps us off its `resize='dynamic'` path, broken for numpy input.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image

from gpu_service.engines.base import Engine, EngineError, normalise
from gpu_service.engines.weights import sha256

MODES = ("base", "fast", "base-nightly")


class InSPyReNet(Engine):
    name = "inspyrenet"

    def __init__(self, mode: str = "base", ckpt: str | os.PathLike | None = None, device: str | None = None,
                 fp16: bool = True, model_dir: str | os.PathLike | None = None):
        if mode not in MODES:
            raise EngineError(f"unknown InSPyReNet mode {mode!r}: choose one of {', '.join(MODES)}")
        if ckpt and not Path(ckpt).is_file():
            raise EngineError(f"InSPyReNet checkpoint not found at {ckpt}")
        import torch

        self._torch = torch
        self.mode = mode
        self.device = device or ("cuda:0" if torch.cuda.is_available() else "cpu")
        # The package copies its config (and downloads checkpoints) under this folder.
        home = os.environ.setdefault("TRANSPARENT_BACKGROUND_FILE_PATH",
                                     str(Path(model_dir or os.environ.get("MODEL_DIR", ".models")).resolve()))
        from transparent_background import Remover

        try:
            with contextlib.redirect_stdout(io.StringIO()):  # it prints its settings; our logs are JSON
                remover = Remover(mode=mode, ckpt=str(ckpt) if ckpt else None, device=self.device)
        except Exception as exc:
            source = ckpt or f"the package's download into {home}"
            raise EngineError(f"cannot load InSPyReNet {mode} checkpoint from {source}: "
                              f"{type(exc).__name__}: {exc}") from exc
        path = Path(ckpt) if ckpt else Path(home, ".transparent-background", remover.meta.ckpt_name)
        self.checkpoint = str(path)
        self.checksum = sha256(path)
        self.size = tuple(remover.meta.base_size)  # (height, width)
        self.half = fp16 and self.device.startswith("cuda")
        self.model = remover.model.eval()
        if self.half:
            self.model.half()
            # Plain tensors the module's .half() does not reach.
            self.model.image_pyramid.kernel = self.model.image_pyramid.kernel.half()
            torch.backends.cudnn.benchmark = True  # one input size: pick the fastest kernels once

    def prepare(self, image: Image.Image):
        # The package's static resize: bilinear to the mode's square, ImageNet normalisation.
        height, width = self.size
        x = np.asarray(image.convert("RGB").resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
        return self._torch.from_numpy(np.ascontiguousarray(normalise(x / 255.0)))

    def forward(self, batch: list) -> list:
        torch = self._torch
        with torch.inference_mode():
            x = torch.stack(batch).to(self.device, non_blocking=True)
            if self.half:
                x = x.half()
            d0 = self.model.forward_inspyre(x)["saliency"][3]
            pred = torch.sigmoid(d0.float())
            lo = pred.amin(dim=(1, 2, 3), keepdim=True)
            hi = pred.amax(dim=(1, 2, 3), keepdim=True)
            pred = (pred - lo) / (hi - lo + 1e-8)
            return list(pred[:, 0].cpu())

    def finish(self, prediction, size: tuple[int, int]) -> np.ndarray:
        torch = self._torch
        width, height = size
        with torch.inference_mode():
            full = torch.nn.functional.interpolate(prediction[None, None], (height, width), mode="bilinear",
                                                   align_corners=True)[0, 0].clamp_(0, 1)
        return full.numpy().astype(np.float32, copy=False)

    def is_out_of_memory(self, exc: BaseException) -> bool:
        return isinstance(exc, self._torch.cuda.OutOfMemoryError) or super().is_out_of_memory(exc)

    def release_memory(self) -> None:
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()

    def memory_bytes(self) -> int:
        if self.device.startswith("cuda"):
            return int(self._torch.cuda.memory_reserved(self.device))
        return 0

    def info(self) -> dict:
        return {**super().info(), "fp16": self.half, "input_size": list(self.size), "checkpoint": self.checkpoint}
