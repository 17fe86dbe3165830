"""What every engine offers: RGB images in, soft masks out.

`predict` is the whole story. Serving splits it in three so that only the
forward pass runs on the thread that feeds the accelerator:
`prepare` (per image, any thread) -> `forward` (one batch) -> `finish` (per image, any thread).
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
from PIL import Image

# ImageNet's channel statistics, which both models were trained to expect.
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def normalise(rgb: np.ndarray) -> np.ndarray:
    """An H x W x 3 float image in [0, 1] as the models' C x H x W input."""
    return ((rgb - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)


class EngineError(RuntimeError):
    """The engine cannot start (missing or corrupt weights, unknown mode)."""


class Engine(abc.ABC):
    name: str = "base"
    device: str = "cpu"
    mode: str = ""
    checksum: str = ""

    @abc.abstractmethod
    def prepare(self, image: Image.Image) -> Any:
        """Resize and normalise one RGB image into the model's input (CPU work)."""

    @abc.abstractmethod
    def forward(self, batch: list[Any]) -> list[Any]:
        """One forward pass over prepared inputs; one low-resolution prediction each."""

    @abc.abstractmethod
    def finish(self, prediction: Any, size: tuple[int, int]) -> np.ndarray:
        """A prediction back to a float32 mask in [0, 1] of `size` (width, height), as height x width."""

    def predict(self, images: list[Image.Image]) -> list[np.ndarray]:
        """One forward pass over a batch of RGB images.

        Returns one float32 mask per image, in [0, 1], with the image's own size
        (height x width)."""
        predictions = self.forward([self.prepare(image) for image in images])
        return [self.finish(p, image.size) for p, image in zip(predictions, images, strict=True)]

    def is_out_of_memory(self, exc: BaseException) -> bool:
        """Whether `exc` from forward() means the batch was too big for the device."""
        text = str(exc).lower()
        return isinstance(exc, MemoryError) or "out of memory" in text or "failed to allocate memory" in text

    def release_memory(self) -> None:  # noqa: B027 (an optional hook: a no-op unless a device caches)
        """Give cached device memory back after an out-of-memory error."""

    def memory_bytes(self) -> int:
        """Device memory held by the engine (0 where the device has none of its own)."""
        return 0

    def info(self) -> dict:
        return {"engine": self.name, "mode": self.mode, "device": self.device, "checkpoint_sha256": self.checksum}
