"""The int8 U^2-Net-p: the weights `make models` derived, refused when stale or damaged, and
masks that agree with rembg's fp32 ones (the u2netp engine's, IoU 1.0000 against rembg)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from gpu_service import imaging
from gpu_service.engines import EngineError, new_engine
from gpu_service.engines.u2netp_int8 import IDENTITY, WEIGHTS, derive
from tests.samples import MODELS, SAMPLES, needs_samples
from tests.unit.test_engines import check_masks, photo

pytestmark = pytest.mark.skipif(not (MODELS / WEIGHTS).is_file(), reason="run `make models`")


@pytest.fixture(scope="module")
def int8():
    return new_engine("u2netp-int8", model_dir=MODELS)


@pytest.fixture
def copied(tmp_path):
    for name in ("u2netp.onnx", WEIGHTS, "u2netp-int8.json"):
        shutil.copy(MODELS / name, tmp_path / name)
    return tmp_path


def test_it_gives_full_size_soft_masks_and_names_its_recipe(int8):
    images = [photo(), photo(200, 320, seed=1)]
    check_masks(int8.predict(images), images)
    assert int8.info() == {"engine": "u2netp-int8", "mode": "320-int8", "device": "cpu", "checkpoint_sha256": IDENTITY}


def test_it_refuses_weights_without_their_record(copied):
    (copied / "u2netp-int8.json").unlink()
    with pytest.raises(EngineError, match="no derivation record.*make models"):
        new_engine("u2netp-int8", model_dir=copied)


def test_it_refuses_weights_another_recipe_made(copied):
    record = json.loads((copied / "u2netp-int8.json").read_text())
    (copied / "u2netp-int8.json").write_text(json.dumps({**record, "identity": "ab" * 32}))
    with pytest.raises(EngineError, match="another recipe"):
        new_engine("u2netp-int8", model_dir=copied)


def test_it_refuses_damaged_weights(copied):
    data = bytearray((copied / WEIGHTS).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copied / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(EngineError, match="fail their checksum"):
        new_engine("u2netp-int8", model_dir=copied)


def test_derive_keeps_a_current_file_and_refuses_other_source_weights(copied, tmp_path_factory):
    before = (copied / WEIGHTS).stat().st_mtime_ns
    assert derive(copied / "u2netp.onnx", copied / WEIGHTS) == copied / WEIGHTS
    assert (copied / WEIGHTS).stat().st_mtime_ns == before  # not derived again
    other = tmp_path_factory.mktemp("other")
    (other / "u2netp.onnx").write_bytes(b"not the pinned weights")
    with pytest.raises(EngineError, match="not the pinned"):
        derive(other / "u2netp.onnx", other / WEIGHTS)


@needs_samples
def test_its_masks_agree_with_the_fp32_ones_on_every_pet_photo(int8):
    fp32 = new_engine("u2netp", model_dir=MODELS, sessions=1)
    ious = {}
    for path in sorted((SAMPLES / "images").glob("*.jpg")):
        image = imaging.decode(path.read_bytes())
        a, b = fp32.predict([image])[0] >= 0.5, int8.predict([image])[0] >= 0.5
        ious[path.stem] = (a & b).sum() / max((a | b).sum(), 1)
    assert len(ious) == 24
    worst = min(ious, key=ious.get)
    # The bar is IoU >= 0.99 against rembg; this recipe measured 0.9926 at worst (ecssd_0717).
    assert ious[worst] >= 0.99, f"{worst}: IoU {ious[worst]:.4f}"
    assert np.mean(list(ious.values())) >= 0.995


def test_a_pet_photo_outside_the_benchmark_sets_falls_under_the_bar(int8):
    # Why u2netp-int8 is opt-in (docs/performance.md): scikit-image's chelsea, at full size.
    # A recipe that lifts it to 0.99 fails this: then the default engine can be reconsidered.
    from PIL import Image
    from skimage import data

    photo = Image.fromarray(data.chelsea())
    a = new_engine("u2netp", model_dir=MODELS, sessions=1).predict([photo])[0] >= 0.5
    b = int8.predict([photo])[0] >= 0.5
    iou = (a & b).sum() / (a | b).sum()
    assert 0.97 <= iou < 0.99, f"chelsea IoU {iou:.4f}"
