"""Segmentation engines behind one small interface, chosen by name."""

from gpu_service.engines.base import Engine, EngineError

NAMES = ("u2netp", "inspyrenet")


def new_engine(name: str, **options) -> Engine:
    """Build the engine called `name` (ENGINE): `u2netp` (CPU, ONNX) or `inspyrenet` (torch)."""
    if name == "u2netp":
        from gpu_service.engines.u2netp import U2NetP

        return U2NetP(**options)
    if name == "inspyrenet":
        from gpu_service.engines.inspyrenet import InSPyReNet

        return InSPyReNet(**options)
    raise ValueError(f"unknown engine {name!r}: choose one of {', '.join(NAMES)}")


__all__ = ["Engine", "EngineError", "NAMES", "new_engine"]
