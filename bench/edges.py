"""Soft edges: how much of the old background shows in the pet's fur, before and after foreground estimation.

Quality (bench/fringe.py says how it is measured): every sample pet over five
saturated backgrounds, U^2-Net-p masks, through decode -> mask -> cut_out ->
encode in PNG, WebP and the solid-background JPEG, with the foreground step
off ("before") and on ("after"). Side by side on the same inputs, in the same
run: rembg.remove (plain, and with decontaminate=True) and transparent-
background's own `process(type="rgba")` (pymatting's estimate_foreground_ml),
loaded from a random-weights checkpoint with its model's output replaced by
our U^2-Net-p mask: its composition step is then judged on the same mask.

Time: the step's added seconds (cut_out with it minus without, back to back on
the same image and mask, order alternating) against the whole job (decode ->
mask -> cut_out -> PNG) in the same run, on phone-sized (12 MP) photos and on
the samples. Pictures: before/after crops of a fur edge on white and on black.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench import fringe
from bench.common import MODELS, RESULTS, median, phone_photo, sample_names, write
from cutout import imaging
from gpu_service.engines import new_engine

FORMATS = ("png", "webp", "jpeg")
JPEG_BACKGROUND = (255, 255, 255)  # encode()'s default
GOAL = 15.0


def alpha_of(output: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(output)).convert("RGBA").getchannel("A"))


class TransparentBackgroundGivenMask:
    """transparent-background's Remover.process(type="rgba"), its model's output replaced by a given mask."""

    def __init__(self):
        import torch
        from transparent_background import Remover

        from bench.engines import random_checkpoint

        self._torch = torch
        os.environ.setdefault("TRANSPARENT_BACKGROUND_FILE_PATH", tempfile.mkdtemp(prefix="tb-home-"))
        folder = Path(tempfile.mkdtemp(prefix="tb-ckpt-"))
        ckpt = random_checkpoint(folder)
        self.remover = Remover(mode="fast", ckpt=str(ckpt), device="cpu")
        ckpt.unlink()
        self.mask: np.ndarray | None = None
        # process() resizes the model's output to the photo's size (bilinear, align_corners): the
        # identity for a mask already that size.
        self.remover.model = lambda x: torch.from_numpy(self.mask)[None, None]

    def __call__(self, image: Image.Image, mask: np.ndarray) -> bytes:
        self.mask = mask.astype(np.float32)
        out = io.BytesIO()
        Image.fromarray(np.asarray(self.remover.process(image, type="rgba"))).save(out, "PNG", compress_level=1)
        return out.getvalue()


def quality(names: list[str], engine, others: bool) -> dict:
    if others:
        os.environ.setdefault("U2NET_HOME", str(MODELS))
        import rembg

        session = rembg.new_session("u2netp")
        tb = TransparentBackgroundGivenMask()
    table: dict[str, dict[str, list[float]]] = {}
    seconds: dict[str, list[float]] = {}
    ious = {"before": [], "after": []}
    alpha_unchanged = True

    def timed(label, run, *args, **kwargs):
        started = time.perf_counter()
        result = run(*args, **kwargs)
        seconds.setdefault(label, []).append(time.perf_counter() - started)
        return result

    for name in names:
        photo, truth = fringe.photo_and_mask(name)  # once per photo, whatever the background
        own = fringe.own_colour(photo, truth)
        for colour_name, colour in fringe.BACKGROUNDS.items():
            rows = table.setdefault(colour_name, {})
            data = fringe.png(fringe.composite(photo, truth, colour))
            image = imaging.decode(data)
            mask = engine.predict([image])[0]
            alphas = {}
            for when, flag in (("before", False), ("after", True)):
                cut = timed(f"cut_out {when}", imaging.cut_out, image, mask, "none", flag)
                alpha = np.asarray(cut.getchannel("A"))
                alphas[when] = alpha
                ious[when].append(fringe.iou(alpha, truth))
                for output_format in FORMATS:
                    output = imaging.encode(cut, output_format)
                    if output_format != "jpeg":
                        alpha_unchanged &= bool(np.array_equal(alpha_of(output), alpha))
                    visible = fringe.visible_colour(output, alpha, JPEG_BACKGROUND)
                    rows.setdefault(f"ours {when} {output_format}", []).append(
                        fringe.hue_excess(visible, own, alpha, colour))
                    if output_format == "png":
                        rows.setdefault(f"ours {when} png, 0.9 < a < 1", []).append(
                            fringe.hue_excess(visible, own, alpha, colour, fringe.NEAR_OPAQUE))
            alpha_unchanged &= bool(np.array_equal(alphas["before"], alphas["after"]))
            if others:
                for label, kwargs in (("rembg", {}), ("rembg decontaminate", {"decontaminate": True})):
                    output = timed(label, rembg.remove, data, session=session, **kwargs)
                    alpha = alpha_of(output)
                    rows.setdefault(f"{label} png", []).append(
                        fringe.hue_excess(fringe.visible_colour(output, alpha, JPEG_BACKGROUND), own, alpha, colour))
                output = timed("transparent-background rgba", tb, image, mask)
                alpha = alpha_of(output)
                rows.setdefault("transparent-background rgba png", []).append(
                    fringe.hue_excess(fringe.visible_colour(output, alpha, JPEG_BACKGROUND), own, alpha, colour))
    means = {c: {k: float(np.mean(v)) for k, v in rows.items()} for c, rows in table.items()}
    worst = {c: {k: float(max(v, key=abs)) for k, v in rows.items()} for c, rows in table.items()}
    after = [abs(means[c][f"ours after {f}"]) for c in means for f in FORMATS]
    return {"images": len(names), "mean_excess": means, "worst_image_excess": worst,
            "median_seconds": {k: median(v) for k, v in seconds.items()},
            "mean_iou": {k: float(np.mean(v)) for k, v in ious.items()},
            "iou_change_max": float(max(abs(a - b) for a, b in zip(ious["after"], ious["before"], strict=True))),
            "alpha_unchanged": alpha_unchanged, "max_abs_after": max(after), "goal": GOAL,
            "meets_goal": max(after) <= GOAL and alpha_unchanged}


def added_time(photos: dict[str, bytes], engine, rounds: int) -> dict:
    """Seconds the step adds to cut_out, and the whole job's seconds, per photo (medians over rounds).

    Also the model's share of the job (U^2-Net-p on this CPU; InSPyReNet on the GPU in production) and
    CPU seconds (all threads), so the figures can be carried over to the deployed instance."""
    keys = ("added_s", "added_cpu_s", "job_s", "job_cpu_s", "model_s")
    laps = {n: {k: [] for k in keys} for n in photos}
    for r in range(rounds):
        for i, (name, data) in enumerate(photos.items()):
            started, started_cpu = time.perf_counter(), time.process_time()
            image = imaging.decode(data)
            before_model = time.perf_counter()
            mask = engine.predict([image])[0]
            before_cut, before_cut_cpu = time.perf_counter(), time.process_time()
            spent = {}
            for flag in ((True, False) if (i + r) % 2 else (False, True)):
                t, c = time.perf_counter(), time.process_time()
                cut = imaging.cut_out(image, mask, estimate_foreground=flag)
                spent[flag] = (time.perf_counter() - t, time.process_time() - c)
                if flag:
                    kept = cut
            before_encode, before_encode_cpu = time.perf_counter(), time.process_time()
            imaging.encode(kept, "png")
            done, done_cpu = time.perf_counter(), time.process_time()
            # The job as served: everything but the cut_out without the step.
            lap = laps[name]
            lap["job_s"].append(done - started - (before_encode - before_cut) + spent[True][0])
            lap["job_cpu_s"].append(done_cpu - started_cpu - (before_encode_cpu - before_cut_cpu) + spent[True][1])
            lap["model_s"].append(before_cut - before_model)
            lap["added_s"].append(spent[True][0] - spent[False][0])
            lap["added_cpu_s"].append(spent[True][1] - spent[False][1])
    per_photo = [{"photo": n, **{k: median(v) for k, v in laps[n].items()}} for n in photos]
    result = {"photos": len(photos), "rounds": rounds}
    for k in keys:
        result[f"median_{k}"] = median([p[k] for p in per_photo])
    result["median_share"] = median([p["added_s"] / p["job_s"] for p in per_photo])
    result["median_cpu_share"] = median([p["added_cpu_s"] / p["job_cpu_s"] for p in per_photo])
    result["per_photo"] = per_photo
    return result


def large_quality(names: list[str], format_names: list[str], engine) -> dict:
    """The same measure at 12 MP, where the step runs at a reduced working size: each sample-size
    composite, the photo and the pet's own colour resampled (LANCZOS) to 4032 wide, as phone_photo does.

    Every photo in `names` is measured on the cut-out's own colours (what the lossless PNG holds), before
    and after, on the soft edge and on near-opaque pixels; those in `format_names` also through the
    WebP and the JPEG on white (12 MP encodes cost seconds each, hence the subset)."""
    table: dict[str, dict[str, list[float]]] = {}
    alpha_unchanged, iou_change = True, 0.0
    for name in names:
        photo, truth = fringe.photo_and_mask(name)
        size = (4032, 3024) if photo.shape[1] >= photo.shape[0] else (3024, 4032)

        def big(pixels, size=size):
            return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS))

        own = big(fringe.own_colour(photo, truth))
        truth_big = np.asarray(Image.fromarray(truth).resize(size, Image.Resampling.NEAREST))
        for colour_name, colour in fringe.BACKGROUNDS.items():
            rows = table.setdefault(colour_name, {})
            image = Image.fromarray(big(fringe.composite(photo, truth, colour)))
            mask = engine.predict([image])[0]
            alphas = {}
            for when, flag in (("before", False), ("after", True)):
                cut = imaging.cut_out(image, mask, estimate_foreground=flag)
                rgba = np.asarray(cut)
                alpha = alphas[when] = rgba[..., 3]
                visible = rgba[..., :3].astype(np.float32)
                rows.setdefault(f"ours {when} png", []).append(fringe.hue_excess(visible, own, alpha, colour))
                rows.setdefault(f"ours {when} png, 0.9 < a < 1", []).append(
                    fringe.hue_excess(visible, own, alpha, colour, fringe.NEAR_OPAQUE))
                if flag and name in format_names:
                    for output_format in ("webp", "jpeg"):
                        output = imaging.encode(cut, output_format)
                        rows.setdefault(f"ours after {output_format} ({len(format_names)} photos)", []).append(
                            fringe.hue_excess(fringe.visible_colour(output, alpha, JPEG_BACKGROUND), own, alpha,
                                              colour))
            alpha_unchanged &= bool(np.array_equal(alphas["before"], alphas["after"]))
            iou_change = max(iou_change, abs(fringe.iou(alphas["after"], truth_big) -
                                             fringe.iou(alphas["before"], truth_big)))
    means = {c: {k: float(np.mean(v)) for k, v in rows.items()} for c, rows in table.items()}
    after = [abs(v) for rows in means.values() for k, v in rows.items() if k.startswith("ours after") and "<" not in k]
    return {"images": len(names), "format_images": len(format_names), "mean_excess": means,
            "alpha_unchanged": alpha_unchanged, "iou_change_max": iou_change, "max_abs_after": max(after),
            "meets_goal": max(after) <= GOAL and alpha_unchanged}


def pictures(name: str, engine, folder: Path, colour=(0, 255, 0), crop: int = 96, zoom: int = 3) -> list[Path]:
    """Before | after crops of the softest fur edge of `name` (cut from a green composite), shown on
    white and on black, magnified `zoom` times (nearest) so single pixels show."""
    photo, truth = fringe.photo_and_mask(name)
    image = Image.fromarray(fringe.composite(photo, truth, colour))
    mask = engine.predict([image])[0]
    cuts = [imaging.cut_out(image, mask, estimate_foreground=flag) for flag in (False, True)]
    alpha = np.asarray(cuts[0].getchannel("A"))
    soft = ((alpha > 25) & (alpha < 230)).astype(np.float32)
    # The crop with the most soft pixels (a coarse search on a grid of half-crops).
    step = crop // 2
    best = max(((y, x) for y in range(0, alpha.shape[0] - crop + 1, step)
                for x in range(0, alpha.shape[1] - crop + 1, step)),
               key=lambda p: soft[p[0]:p[0] + crop, p[1]:p[1] + crop].sum())
    box = (best[1], best[0], best[1] + crop, best[0] + crop)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for shown_name, shown in (("white", (255, 255, 255)), ("black", (0, 0, 0))):
        sheet = Image.new("RGB", (2 * crop * zoom + zoom * 2, crop * zoom), (128, 128, 128))
        for i, cut in enumerate(cuts):
            flat = Image.new("RGB", cut.size, shown)
            flat.paste(cut, mask=cut.getchannel("A"))
            part = flat.crop(box).resize((crop * zoom, crop * zoom), Image.Resampling.NEAREST)
            sheet.paste(part, (i * (crop * zoom + zoom * 2), 0))
        path = folder / f"edges_{name}_on_{shown_name}.png"
        sheet.save(path, optimize=True)
        paths.append(path)
    return paths


def report(result: dict) -> None:
    q = result["quality"]
    print(f"background-hue excess on soft-edge pixels (mean over {q['images']} samples, 1/255; goal |x| <= {GOAL:g}):")
    labels = list(next(iter(q["mean_excess"].values())))
    print(f"  {'':34}" + "".join(f"{c:>8}" for c in q["mean_excess"]))
    for label in labels:
        print(f"  {label:34}" + "".join(f"{q['mean_excess'][c][label]:8.1f}" for c in q["mean_excess"]))
    print(f"  alpha unchanged: {q['alpha_unchanged']}; mask IoU vs truth before {q['mean_iou']['before']:.4f}, "
          f"after {q['mean_iou']['after']:.4f} (largest change {q['iou_change_max']:.6f})")
    print(f"  worst |after| {q['max_abs_after']:.1f}: {'meets' if q['meets_goal'] else 'MISSES'} the goal")
    print("  median seconds per call at sample size: " +
          ", ".join(f"{k} {v:.3f}" for k, v in q["median_seconds"].items()))
    if "large_quality" in result:
        lq = result["large_quality"]
        print(f"12 MP composites ({lq['images']} samples resampled to 4032 px; WebP/JPEG on {lq['format_images']}):")
        print(f"  {'':34}" + "".join(f"{c:>8}" for c in lq["mean_excess"]))
        for label in next(iter(lq["mean_excess"].values())):
            print(f"  {label:34}" + "".join(f"{lq['mean_excess'][c][label]:8.1f}" for c in lq["mean_excess"]))
        print(f"  alpha unchanged: {lq['alpha_unchanged']}; largest IoU change {lq['iou_change_max']:.6f}; worst "
              f"|after| {lq['max_abs_after']:.1f}: {'meets' if lq['meets_goal'] else 'MISSES'} the goal")
    for key, label in (("time_phone", "12 MP phone-sized"), ("time_samples", "samples at their own size")):
        if key in result:
            t = result[key]
            print(f"{label}: step adds {t['median_added_s']:.3f} s to a {t['median_job_s']:.3f} s job "
                  f"(model {t['median_model_s']:.3f} s of it): {100 * t['median_share']:.1f} %; CPU seconds "
                  f"{t['median_added_cpu_s']:.3f} of {t['median_job_cpu_s']:.3f}: {100 * t['median_cpu_share']:.1f} % "
                  f"(median over {t['photos']} photos x {t['rounds']} rounds)")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=0, help="samples for the quality table (0: all)")
    parser.add_argument("--phone", type=int, default=4, help="phone-sized photos for the timing")
    parser.add_argument("--large", type=int, default=24, help="samples for the 12 MP quality check (0: none)")
    parser.add_argument("--large-formats", type=int, default=6,
                        help="of those, how many (every k-th) through WebP/JPEG")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-others", action="store_true", help="skip rembg and transparent-background")
    parser.add_argument("--picture", default="oxpet_great_pyrenees_180", help="sample for the pictures")
    args = parser.parse_args(argv)
    names = sample_names()
    engine = new_engine("u2netp", model_dir=MODELS)
    result = {"quality": quality(names[: args.images or None], engine, not args.no_others)}
    if args.large:
        large = names[: args.large]
        step = max(1, len(large) // max(1, args.large_formats))
        result["large_quality"] = large_quality(large, large[::step][: args.large_formats], engine)
    if args.phone:
        result["time_phone"] = added_time({n: phone_photo(n) for n in names[: args.phone]}, engine, args.rounds)
    result["time_samples"] = added_time({n: (fringe.samples.IMAGES / f"{n}.jpg").read_bytes() for n in names},
                                        engine, args.rounds)
    result["pictures"] = [str(p) for p in pictures(args.picture, engine, RESULTS / "edges")]
    report(result)
    write("edges", result)
    return result


if __name__ == "__main__":
    main()
