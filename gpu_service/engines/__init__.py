"""Segmentation engines behind one small interface, chosen by name (ENGINE).

One file per engine; a new one is its file and one line in ENGINES. Each is imported
only when chosen, so the CPU engine never loads torch.
"""

from importlib import import_module

from gpu_service.engines.base import Engine, EngineError

# name -> "module:class"
ENGINES = {
    "u2netp": "gpu_service.engines.u2netp:U2NetP",          # CPU, ONNX Runtime: rembg's own weights
    "u2netp-int8": "gpu_service.engines.u2netp_int8:U2NetPInt8",  # CPU: the same, heaviest convs in int8 (the default)
    "inspyrenet": "gpu_service.engines.inspyrenet:InSPyReNet",  # torch, the GPU service's
}
NAMES = tuple(ENGINES)


def new_engine(name: str, **options) -> Engine:
    """Build the engine called `name` with its options."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}: choose one of {', '.join(NAMES)}")
    module, cls = ENGINES[name].split(":")
    return getattr(import_module(module), cls)(**options)


__all__ = ["ENGINES", "Engine", "EngineError", "NAMES", "new_engine"]
