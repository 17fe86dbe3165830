"""The int8 U^2-Net-p: the weights `make models` derived, refused when stale or damaged, and
masks that agree with rembg's fp32 ones (the u2netp engine's, IoU 1.0000 against rembg)."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest

from cutout import imaging
from gpu_service.engines import EngineError, new_engine
from gpu_service.engines.u2netp_int8 import IDENTITY, WEIGHTS, derive
from tests import samples
from tests.imaging.test_engines import check_masks, photo
from tests.samples import MODELS, SAMPLES, needs_samples

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


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a >= 0.5, b >= 0.5
    return float((a & b).sum() / max((a | b).sum(), 1))


@needs_samples
def test_against_the_ground_truth_it_cuts_as_well_as_fp32(int8):
    # Why it is the default CPU engine (bench/int8_quality.py): measured 0.8308 against 0.8309
    # mean IoU, and 14.87 against 14.79 of alpha (0-255) left on the true background.
    fp32 = new_engine("u2netp", model_dir=MODELS, sessions=1)
    truth_iou, haze = {"fp32": [], "int8": []}, {"fp32": [], "int8": []}
    for path in sorted((SAMPLES / "images").glob("*.jpg")):
        image = imaging.decode(path.read_bytes())
        truth = samples.truth(path.stem) / 255
        for who, engine in (("fp32", fp32), ("int8", int8)):
            mask = engine.predict([image])[0]
            truth_iou[who].append(iou(mask, truth))
            haze[who].append(mask[truth < 0.5].mean() * 255)
    assert len(truth_iou["int8"]) == 24
    assert np.mean(truth_iou["int8"]) >= np.mean(truth_iou["fp32"]) - 0.002
    assert min(truth_iou["int8"]) >= min(truth_iou["fp32"]) - 0.005
    assert np.mean(haze["int8"]) <= np.mean(haze["fp32"]) + 0.5


def test_on_a_pet_photo_outside_the_samples_it_moves_the_mask_less_than_a_jpeg_resave(int8):
    # scikit-image's chelsea, full size: int8 against fp32 is IoU 0.980, under the benchmark's
    # 0.99, but fp32 against itself on the same photo saved again as JPEG q95 is 0.958. Her mask
    # hovers near 0.5 over a wide band, so any change to the input flips it; int8 flips less.
    from PIL import Image
    from skimage import data

    photo = Image.fromarray(data.chelsea())
    saved = io.BytesIO()
    photo.save(saved, "JPEG", quality=95)
    fp32 = new_engine("u2netp", model_dir=MODELS, sessions=1)
    mask = fp32.predict([photo])[0]
    moved_by_int8 = iou(int8.predict([photo])[0], mask)
    moved_by_resave = iou(fp32.predict([Image.open(saved).convert("RGB")])[0], mask)
    assert moved_by_resave < 0.99, f"chelsea is no longer a hard case: {moved_by_resave:.4f}"
    assert moved_by_int8 >= moved_by_resave and moved_by_int8 >= 0.97, (moved_by_int8, moved_by_resave)
