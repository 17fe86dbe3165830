"""What every benchmark shares: the photos, phone-sized copies, statistics and the results file."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image

from tests import samples

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MODELS = ROOT / ".models"
SAMPLES = samples.SAMPLES
PHONE = (4032, 3024)  # a 12 MP phone photo


def sample_names() -> list[str]:
    if not (SAMPLES / "manifest.csv").is_file():
        raise SystemExit(f"pet samples not found at {SAMPLES} (../shared/samples): nothing to benchmark")
    with open(SAMPLES / "manifest.csv") as f:
        return [row["name"] for row in csv.DictReader(f)]


def sample_bytes(name: str) -> bytes:
    return (SAMPLES / "images" / f"{name}.jpg").read_bytes()


def phone_photo(name: str, orientation: int = 1) -> bytes:
    """A sample resampled (LANCZOS) to 4032x3024 (or 3024x4032), saved as a phone would:
    JPEG q90, pixels as the sensor read them and an EXIF orientation tag to turn them upright."""
    image = Image.open(SAMPLES / "images" / f"{name}.jpg").convert("RGB")
    size = PHONE if image.width >= image.height else PHONE[::-1]
    image = image.resize(size, Image.Resampling.LANCZOS)
    stored = {1: image, 3: image.transpose(Image.Transpose.ROTATE_180),
              6: image.transpose(Image.Transpose.ROTATE_90),
              8: image.transpose(Image.Transpose.ROTATE_270)}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def median(values) -> float:
    return float(statistics.median(values))


def p95(values) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))])


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpu": cpu, "cores": os.cpu_count(),
            "python": platform.python_version(), "load_average_at_start": list(os.getloadavg())}


def write(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **payload}, indent=2))
    print(f"-> {path.relative_to(ROOT)}")
    return path


class Stopwatch:
    """Laps in data-flow order: `lap("decode")` records the seconds since the previous lap."""

    def __init__(self):
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.laps[stage] = self.laps.get(stage, 0.0) + now - self._last
        self._last = now
