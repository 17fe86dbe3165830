"""Engines: the real u2netp (against rembg, on the shared pet photos) and the real
InSPyReNet loading and inference code, on CPU, with a locally made random-weights checkpoint."""

from __future__ import annotations

import csv
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cutout import imaging
from gpu_service.engines import EngineError, new_engine
from tests.samples import MODELS, SAMPLES, needs_samples

ROOT = Path(__file__).resolve().parents[2]


def photo(width=300, height=200, seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    im = np.zeros((height, width, 3), np.uint8) + rng.integers(0, 60, (1, 1, 3), dtype=np.uint8)
    im[height // 4: 3 * height // 4, width // 3: 2 * width // 3] = (230, 180, 90)  # a bright "pet"
    return Image.fromarray(im)


def check_masks(masks, images):
    assert len(masks) == len(images)
    for mask, image in zip(masks, images, strict=True):
        assert mask.shape == (image.height, image.width) and mask.dtype == np.float32
        assert 0.0 <= mask.min() and mask.max() <= 1.0
        assert mask.std() > 0  # not a constant map


# --- u2netp --------------------------------------------------------------

@pytest.fixture(scope="module")
def u2netp():
    return new_engine("u2netp", model_dir=MODELS)


def test_u2netp_gives_full_size_soft_masks_the_same_alone_or_batched(u2netp):
    images = [photo(), photo(200, 320, seed=1)]
    masks = u2netp.predict(images)
    check_masks(masks, images)
    again = u2netp.predict(images[:1])
    assert np.array_equal(again[0], masks[0])
    assert u2netp.info()["checkpoint_sha256"].startswith("309c8469")


def test_u2netp_missing_or_corrupt_weights_fail_at_load(tmp_path):
    with pytest.raises(EngineError, match="not found"):
        new_engine("u2netp", model_dir=tmp_path)
    corrupt = tmp_path / "u2netp.onnx"
    data = bytearray((MODELS / "u2netp.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    with pytest.raises(EngineError, match="checksum"):
        new_engine("u2netp", model_dir=tmp_path)


def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="unknown engine"):
        new_engine("magic")


def score(alpha: np.ndarray, name: str) -> float:
    """IoU of alpha >= 128 against the ground truth, over pixels outside the ignore band."""
    truth = np.asarray(Image.open(SAMPLES / "masks" / f"{name}.png").convert("L")) >= 128
    keep = np.ones_like(truth)
    if (SAMPLES / "ignore" / f"{name}.png").is_file():
        keep = np.asarray(Image.open(SAMPLES / "ignore" / f"{name}.png").convert("L")) == 0
    ours = alpha >= 128
    return float(((ours & truth) & keep).sum() / max(((ours | truth) & keep).sum(), 1))


@needs_samples
def test_u2netp_pipeline_scores_as_well_as_rembg_on_the_pet_photos(u2netp, monkeypatch):
    monkeypatch.setenv("U2NET_HOME", str(MODELS))
    rembg = pytest.importorskip("rembg")
    session = rembg.new_session("u2netp")
    with open(SAMPLES / "manifest.csv") as f:
        names = [row["name"] for row in csv.DictReader(f)]
    assert len(names) == 24
    ours, theirs = {}, {}
    for name in names:
        data = (SAMPLES / "images" / f"{name}.jpg").read_bytes()
        image = imaging.decode(data)
        png = imaging.encode(imaging.cut_out(image, u2netp.predict([image])[0]), "png")
        ours[name] = score(np.asarray(Image.open(io.BytesIO(png)).getchannel("A")), name)
        reference = Image.open(io.BytesIO(rembg.remove(data, session=session)))
        theirs[name] = score(np.asarray(reference.getchannel("A")), name)
    mean_ours, mean_theirs = np.mean(list(ours.values())), np.mean(list(theirs.values()))
    print(f"mean IoU: ours {mean_ours:.4f}, rembg {mean_theirs:.4f}")
    assert mean_ours >= mean_theirs - 0.01
    worst = min(names, key=lambda n: ours[n] - theirs[n])
    assert ours[worst] >= theirs[worst] - 0.05, f"{worst}: {ours[worst]:.3f} vs rembg {theirs[worst]:.3f}"


# --- InSPyReNet (torch) ------------------------------------------------------

@pytest.fixture(scope="session")
def inspyrenet_checkpoint(tmp_path_factory):
    """A random-weights checkpoint with the real architecture (367 MB), made once and deleted after."""
    torch = pytest.importorskip("torch")
    from transparent_background.InSPyReNet import InSPyReNet_SwinB

    folder = tmp_path_factory.mktemp("inspyrenet")
    torch.manual_seed(0)
    model = InSPyReNet_SwinB(depth=64, pretrained=False, base_size=[1024, 1024], threshold=None)
    path = folder / "ckpt_random.pth"
    torch.save(model.state_dict(), path)
    del model
    yield path
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def package_home(tmp_path, monkeypatch):
    """transparent-background copies its config here (never into the real home)."""
    monkeypatch.setenv("TRANSPARENT_BACKGROUND_FILE_PATH", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="session")
def inspyrenet(inspyrenet_checkpoint, tmp_path_factory):
    os.environ.setdefault("TRANSPARENT_BACKGROUND_FILE_PATH", str(tmp_path_factory.mktemp("tb-home")))
    return new_engine("inspyrenet", mode="fast", ckpt=inspyrenet_checkpoint, device="cpu")


@pytest.mark.torch
def test_inspyrenet_loads_a_local_checkpoint_and_segments(inspyrenet, inspyrenet_checkpoint):
    info = inspyrenet.info()
    assert info["engine"] == "inspyrenet" and info["mode"] == "fast" and info["device"] == "cpu"
    assert info["input_size"] == [384, 384] and info["fp16"] is False
    assert len(info["checkpoint_sha256"]) == 64 and info["checkpoint"] == str(inspyrenet_checkpoint)

    images = [photo(), photo(160, 240, seed=3)]
    masks = inspyrenet.predict(images)
    check_masks(masks, images)
    # Same input, same mask: alone or in a batch (normalised per image, not per batch).
    alone = inspyrenet.predict(images[1:])
    np.testing.assert_allclose(alone[0], masks[1], atol=1e-4)


@pytest.mark.torch
def test_inspyrenet_missing_checkpoint_is_one_clear_error(tmp_path, package_home):
    with pytest.raises(EngineError, match="checkpoint not found at .*nope.pth"):
        new_engine("inspyrenet", mode="fast", ckpt=tmp_path / "nope.pth", device="cpu")


@pytest.mark.torch
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_inspyrenet_corrupt_checkpoint_is_one_clear_error(damage, inspyrenet_checkpoint, tmp_path, package_home):
    bad = tmp_path / "ckpt_bad.pth"
    if damage == "truncated":
        with open(inspyrenet_checkpoint, "rb") as f:
            bad.write_bytes(f.read(1 << 20))
    else:
        bad.write_bytes(os.urandom(4096))
    with pytest.raises(EngineError, match=f"cannot load InSPyReNet fast checkpoint from {bad}"):
        new_engine("inspyrenet", mode="fast", ckpt=bad, device="cpu")


@pytest.mark.torch
def test_inspyrenet_unknown_mode_is_refused(inspyrenet_checkpoint):
    with pytest.raises(EngineError, match="unknown InSPyReNet mode"):
        new_engine("inspyrenet", mode="huge", ckpt=inspyrenet_checkpoint)
