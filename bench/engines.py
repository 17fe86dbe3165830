"""Building the engine a benchmark measures (ENGINE, or --engine), including InSPyReNet
with a random-weights checkpoint where no real one is at hand: speed and memory
depend on the architecture and input size, not on the values of the weights."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from bench.common import MODELS
from gpu_service.engines import NAMES, Engine, new_engine
from settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", default=Settings().engine, choices=NAMES)
    parser.add_argument("--mode", default=os.environ.get("INSPYRENET_MODE", "base"), help="inspyrenet: base or fast")
    parser.add_argument("--ckpt", default=os.environ.get("INSPYRENET_CKPT", ""),
                        help="inspyrenet checkpoint; empty: random weights made here (timing only)")
    parser.add_argument("--device", default=os.environ.get("ENGINE_DEVICE", ""))


def random_checkpoint(folder: Path) -> Path:
    import torch
    from transparent_background.InSPyReNet import InSPyReNet_SwinB

    path = folder / "ckpt_random.pth"
    torch.manual_seed(0)
    torch.save(InSPyReNet_SwinB(depth=64, pretrained=False, base_size=[1024, 1024], threshold=None).state_dict(), path)
    return path


def build(args: argparse.Namespace) -> tuple[Engine, dict]:
    """The engine and a note of what it is (for the results file)."""
    if args.engine != "inspyrenet":
        engine = new_engine(args.engine, model_dir=MODELS)
        return engine, {**engine.info(), "weights": f"real ({engine.weights})"}
    os.environ.setdefault("TRANSPARENT_BACKGROUND_FILE_PATH", tempfile.mkdtemp(prefix="tb-home-"))
    ckpt, weights = args.ckpt, "real"
    if not ckpt:
        ckpt, weights = random_checkpoint(Path(tempfile.mkdtemp(prefix="tb-ckpt-"))), "random (timing only)"
    engine = new_engine("inspyrenet", mode=args.mode, ckpt=ckpt, device=args.device or None)
    if weights.startswith("random"):
        shutil.rmtree(Path(ckpt).parent, ignore_errors=True)  # 367 MB: gone once loaded
    return engine, {**engine.info(), "weights": weights}
