"""Is u2netp-int8 as good a cut-out as rembg's fp32 u2netp? Scored against the truth, and against the model's own noise.

IoU against fp32 alone cannot say: where U^2-Net-p's mask hovers near 0.5 over a
wide band, any change to the input flips that band, and IoU at alpha >= 0.5 falls
with it. So, on the 24 pet samples (each with its ground-truth mask) and on
scikit-image's chelsea (a pet photo outside them), this prints for each engine:

- IoU against the ground-truth mask, and the mean alpha (0-255) it leaves on the
  truth's background (haze that would print);
- how far int8 moves the mask (IoU against fp32's), beside how far fp32's own mask
  moves when the photo is saved again as JPEG quality 95, which no shopper could
  see (the noise floor);
- the haze int8 adds: how far it lifts a corner's alpha over fp32's, and the share of
  pixels it gives alpha >= 8 where fp32 gives <= 2.
"""

from __future__ import annotations

import argparse
import io

import numpy as np
from PIL import Image

from bench import vs_rembg
from bench.common import MODELS, median, sample_bytes, sample_names, write
from cutout import imaging, masks
from gpu_service.engines import new_engine
from tests.samples import truth as sample_truth


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Of two soft masks in [0, 1], cut at 0.5 (vs_rembg's IoU on alpha >= 128)."""
    return vs_rembg.iou(a >= 0.5, b >= 0.5)


def resaved(image: Image.Image, quality: int = 95) -> Image.Image:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue())).convert("RGB")


def photos() -> dict[str, tuple[Image.Image, np.ndarray | None]]:
    """name -> (upright RGB photo, ground-truth mask in [0, 1] or None)."""
    from skimage import data

    found = {}
    for name in sample_names():
        found[name] = (imaging.decode(sample_bytes(name)), sample_truth(name).astype(np.float32) / 255)
    found["chelsea"] = (Image.fromarray(data.chelsea()), None)
    return found


def score(fp32, int8, image: Image.Image, truth: np.ndarray | None) -> dict:
    ours, theirs = int8.predict([image])[0], fp32.predict([image])[0]
    row = {"int8_vs_fp32_iou": iou(ours, theirs), "fp32_vs_resaved_iou": iou(theirs, fp32.predict([resaved(image)])[0])}
    levels = {who: masks.quantise(mask).astype(int) for who, mask in (("fp32", theirs), ("int8", ours))}
    height, width = levels["fp32"].shape
    corners = np.ix_([0, height - 1], [0, width - 1])
    row["int8_corner_lift"] = int((levels["int8"][corners] - levels["fp32"][corners]).max())
    row["int8_hazed_percent"] = float(((levels["int8"] >= 8) & (levels["fp32"] <= 2)).mean() * 100)
    if truth is not None:
        background = truth < 0.5
        for who, mask in (("fp32", theirs), ("int8", ours)):
            row[f"{who}_truth_iou"] = iou(mask, truth)
            row[f"{who}_background_alpha"] = float(mask[background].mean() * 255)
    return row


def main(argv: list[str] | None = None) -> dict:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    fp32 = new_engine("u2netp", model_dir=MODELS, sessions=1)
    int8 = new_engine("u2netp-int8", model_dir=MODELS, sessions=1)
    rows = {name: score(fp32, int8, image, truth) for name, (image, truth) in photos().items()}
    pets = [r for name, r in rows.items() if name != "chelsea"]
    summary = {
        "samples": len(pets),
        **{f"{who}_truth_iou_{how}": round(float(f([r[f"{who}_truth_iou"] for r in pets])), 4)
           for who in ("fp32", "int8") for how, f in (("mean", np.mean), ("min", min))},
        **{f"{who}_background_alpha_mean": round(float(np.mean([r[f"{who}_background_alpha"] for r in pets])), 2)
           for who in ("fp32", "int8")},
        "int8_vs_fp32_iou_min": round(min(r["int8_vs_fp32_iou"] for r in pets), 4),
        "fp32_vs_resaved_iou_median": round(median([r["fp32_vs_resaved_iou"] for r in pets]), 4),
        "int8_moves_less_than_a_resave": sum(r["int8_vs_fp32_iou"] >= r["fp32_vs_resaved_iou"] for r in pets),
        "int8_corner_lift_max": max(r["int8_corner_lift"] for r in rows.values()),
        "int8_hazed_percent_max": round(max(r["int8_hazed_percent"] for r in rows.values()), 3),
        "chelsea": {k: round(v, 4) for k, v in rows["chelsea"].items()},
    }
    print(f"24 pet samples against their ground truth: IoU fp32 mean {summary['fp32_truth_iou_mean']:.4f} "
          f"(min {summary['fp32_truth_iou_min']:.4f}), int8 {summary['int8_truth_iou_mean']:.4f} "
          f"(min {summary['int8_truth_iou_min']:.4f})")
    print(f"  alpha left on the true background (0-255): fp32 {summary['fp32_background_alpha_mean']:.2f}, "
          f"int8 {summary['int8_background_alpha_mean']:.2f}")
    print(f"  int8 against fp32: IoU min {summary['int8_vs_fp32_iou_min']:.4f}; fp32 against itself on a JPEG q95 "
          f"re-save: median {summary['fp32_vs_resaved_iou_median']:.4f}; int8 moves the mask less than the re-save "
          f"on {summary['int8_moves_less_than_a_resave']}/{len(pets)}")
    c = summary["chelsea"]
    print(f"chelsea: int8 against fp32 IoU {c['int8_vs_fp32_iou']:.4f}; "
          f"fp32 against itself on a JPEG q95 re-save {c['fp32_vs_resaved_iou']:.4f}")
    print(f"haze int8 adds, over the samples and chelsea: a corner's alpha lifted by at most "
          f"{summary['int8_corner_lift_max']} (of 255); at most {summary['int8_hazed_percent_max']:.3f} % "
          f"of a photo's pixels at alpha >= 8 where fp32 gives <= 2")
    write("int8_quality", {"summary": summary, "per_image": rows})
    return summary


if __name__ == "__main__":
    main()
