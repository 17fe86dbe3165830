"""Where the shared pet photos with ground-truth masks are: `../shared/samples` beside the
project (PET_SAMPLES_DIR overrides). Tests and benchmarks only; never committed."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = Path(os.environ.get("PET_SAMPLES_DIR") or ROOT.parent / "shared" / "samples")
IMAGES = SAMPLES / "images"
