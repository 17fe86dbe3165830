"""Where the shared pet photos with ground-truth masks are: `../shared/samples` beside the
project (PET_SAMPLES_DIR overrides). Tests and benchmarks only; never committed."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(os.environ.get("PET_SAMPLES_DIR") or ROOT.parent / "shared" / "samples")
IMAGES = SAMPLES / "images"
# The model weights `make models` fetches (and derives) for the tests.
MODELS = ROOT / ".models"

needs_samples = pytest.mark.skipif(not (SAMPLES / "manifest.csv").is_file(),
                                   reason=f"pet samples not found at {SAMPLES} (../shared/samples)")
needs_model = pytest.mark.skipif(not (MODELS / "u2netp.onnx").is_file(), reason="run `make models`")


def truth(name: str):
    """A sample's ground-truth mask, as stored: H x W uint8, 255 on the pet."""
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(SAMPLES / "masks" / f"{name}.png").convert("L"))
