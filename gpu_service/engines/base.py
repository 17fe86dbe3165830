"""What every engine offers: RGB images in, soft masks out."""

from __future__ import annotations

import abc

import numpy as np
from PIL import Image


class EngineError(RuntimeError):
    """The engine cannot start (missing or corrupt weights, unknown mode)."""


class Engine(abc.ABC):
    name: str = "base"
    device: str = "cpu"

    @abc.abstractmethod
    def predict(self, images: list[Image.Image]) -> list[np.ndarray]:
        """One forward pass over a batch of RGB images.

        Returns one float32 mask per image, in [0, 1], with the image's own size
        (height x width)."""

    def info(self) -> dict:
        return {"engine": self.name, "device": self.device}
