"""Our CPU pipeline side by side with rembg.remove() on u2netp and the same photos.

Ours runs `--engine` (u2netp-int8, the default CPU engine, by default; u2netp is rembg's
own fp32 weights), rembg its fp32 u2netp.onnx.

Both take the uploaded bytes and write a PNG cut-out. Runs are interleaved image
by image (and the order flips every round), so a noisy machine slows both alike.
Reports the ratio of images per second, the per-image wall-time ratio, the IoU
of the two masks (alpha >= 128) and whether each output has the displayed
(EXIF-upright) size.

Then both as services under `--clients` concurrent requests (0: skip): ours as
gpu_service runs one (each request's thread decodes, prepares, finishes and
encodes; one batcher thread runs the forward passes), rembg as its own server
does (remove() on each request's thread, one shared session). Each round sends
every photo once through each side, the side going first alternating.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from bench.common import MODELS, median, phone_photo, sample_bytes, sample_names, write
from cutout import imaging
from gpu_service.batcher import Batcher
from gpu_service.engines import new_engine


def displayed_size(data: bytes) -> tuple[int, int]:
    from PIL import ImageOps

    return ImageOps.exif_transpose(Image.open(io.BytesIO(data))).size


def alpha_of(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).getchannel("A")) >= 128


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def compare(photos: dict[str, bytes], rounds: int, engine_name: str) -> dict:
    os.environ.setdefault("U2NET_HOME", str(MODELS))
    import rembg

    engine = new_engine(engine_name, model_dir=MODELS)
    session = rembg.new_session("u2netp")

    def ours(data: bytes) -> bytes:
        image = imaging.decode(data)
        return imaging.compose(image, engine.predict([image])[0])

    def theirs(data: bytes) -> bytes:
        return rembg.remove(data, session=session)

    first = next(iter(photos.values()))
    ours(first), theirs(first)  # warm both
    times = {"ours": {n: [] for n in photos}, "rembg": {n: [] for n in photos}}
    cpu = {"ours": 0.0, "rembg": 0.0}
    outputs = {}
    for r in range(rounds):
        for i, (name, data) in enumerate(photos.items()):
            order = [("ours", ours), ("rembg", theirs)]
            if (i + r) % 2:
                order.reverse()
            for who, run in order:
                started, cpu_started = time.perf_counter(), time.process_time()
                outputs[(who, name)] = run(data)
                times[who][name].append(time.perf_counter() - started)
                cpu[who] += time.process_time() - cpu_started
    rows = []
    for name, data in photos.items():
        a, b = alpha_of(outputs[("ours", name)]), alpha_of(outputs[("rembg", name)])
        want = displayed_size(data)
        rows.append({"image": name, "ours_s": median(times["ours"][name]), "rembg_s": median(times["rembg"][name]),
                     "iou": iou(a, b) if a.shape == b.shape else 0.0,
                     "ours_upright": a.shape[::-1] == want, "rembg_upright": b.shape[::-1] == want,
                     "ours_png_bytes": len(outputs[("ours", name)]), "rembg_png_bytes": len(outputs[("rembg", name)])})
    ours_total, rembg_total = sum(r["ours_s"] for r in rows), sum(r["rembg_s"] for r in rows)
    return {
        "images": len(rows), "rounds": rounds,
        "ours_images_per_s": len(rows) / ours_total, "rembg_images_per_s": len(rows) / rembg_total,
        "throughput_ratio": rembg_total / ours_total,
        # CPU seconds of this process (all threads): less swayed by other jobs on a shared machine.
        "cpu_seconds_ratio": cpu["rembg"] / cpu["ours"],
        "median_per_image_ratio": median([r["rembg_s"] / r["ours_s"] for r in rows]),
        "median_ours_s": median([r["ours_s"] for r in rows]), "median_rembg_s": median([r["rembg_s"] for r in rows]),
        "min_iou": min(r["iou"] for r in rows), "mean_iou": float(np.mean([r["iou"] for r in rows])),
        "all_upright": all(r["ours_upright"] for r in rows), "rembg_all_upright": all(r["rembg_upright"] for r in rows),
        "median_png_bytes_ratio": median([r["ours_png_bytes"] / r["rembg_png_bytes"] for r in rows]),
        "per_image": rows,
    }


def serve(photos: dict[str, bytes], rounds: int, clients: int, engine_name: str) -> dict:
    os.environ.setdefault("U2NET_HOME", str(MODELS))
    import rembg

    engine = new_engine(engine_name, model_dir=MODELS)
    session = rembg.new_session("u2netp")
    batcher = Batcher(engine.forward, max_batch=8, max_wait=0.005)  # the service's defaults (settings.py)

    def ours(data: bytes) -> bytes:
        image = imaging.decode(data)
        mask = engine.finish(batcher(engine.prepare(image)), image.size)
        return imaging.compose(image, mask)

    def theirs(data: bytes) -> bytes:
        return rembg.remove(data, session=session)

    walls, cpu = {"ours": [], "rembg": []}, {"ours": 0.0, "rembg": 0.0}
    outputs = {}
    with ThreadPoolExecutor(clients) as pool:
        first = next(iter(photos.values()))
        list(pool.map(ours, [first] * clients)), list(pool.map(theirs, [first] * clients))  # warm both
        for r in range(rounds):
            order = [("ours", ours), ("rembg", theirs)]
            for who, run in order[::-1] if r % 2 else order:
                started, cpu_started = time.perf_counter(), time.process_time()
                outputs[who] = list(pool.map(run, photos.values()))
                walls[who].append(time.perf_counter() - started)
                cpu[who] += time.process_time() - cpu_started
    batcher.close()
    ious = []
    for a_png, b_png in zip(outputs["ours"], outputs["rembg"], strict=True):
        a, b = alpha_of(a_png), alpha_of(b_png)
        ious.append(iou(a, b) if a.shape == b.shape else 0.0)
    upright = all(alpha_of(png).shape[::-1] == displayed_size(data)
                  for png, data in zip(outputs["ours"], photos.values(), strict=True))
    return {"images": len(photos), "rounds": rounds, "clients": clients,
            "ours_images_per_s": len(photos) / median(walls["ours"]),
            "rembg_images_per_s": len(photos) / median(walls["rembg"]),
            "throughput_ratio": median(walls["rembg"]) / median(walls["ours"]),
            "per_round_ratios": [round(b / a, 3) for a, b in zip(walls["ours"], walls["rembg"], strict=True)],
            # CPU seconds of this process: less swayed by other jobs on a shared machine.
            "cpu_seconds_ratio": cpu["rembg"] / cpu["ours"],
            "min_iou": min(ious), "all_upright": upright}


def report_serving(label: str, result: dict) -> None:
    print(f"{label}, served to {result['clients']} concurrent clients: {result['images']} images x "
          f"{result['rounds']} rounds")
    print(f"  ours  {result['ours_images_per_s']:.3f} img/s, rembg {result['rembg_images_per_s']:.3f} img/s "
          f"(medians over rounds)")
    print(f"  throughput ratio ours/rembg {result['throughput_ratio']:.2f}x (per round {result['per_round_ratios']}; "
          f"CPU-seconds ratio {result['cpu_seconds_ratio']:.2f}x; goal >= 1.25x); "
          f"min mask IoU {result['min_iou']:.4f}; EXIF-upright {result['all_upright']}")


def report(label: str, result: dict) -> None:
    print(f"{label}: {result['images']} images x {result['rounds']} rounds, both writing PNG")
    print(f"  ours  {result['ours_images_per_s']:.3f} img/s (median {result['median_ours_s']:.3f} s/img)")
    print(f"  rembg {result['rembg_images_per_s']:.3f} img/s (median {result['median_rembg_s']:.3f} s/img)")
    print(f"  throughput ratio ours/rembg {result['throughput_ratio']:.2f}x "
          f"(median per-image ratio {result['median_per_image_ratio']:.2f}x, "
          f"CPU-seconds ratio {result['cpu_seconds_ratio']:.2f}x; goal >= 1.25x)")
    print(f"  mask IoU ours vs rembg: min {result['min_iou']:.4f}, mean {result['mean_iou']:.4f} (goal >= 0.99)")
    print(f"  EXIF-upright output: ours {result['all_upright']}, rembg {result['rembg_all_upright']}; "
          f"our PNG is {result['median_png_bytes_ratio']:.2f}x rembg's bytes (median)")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phone", type=int, default=8, help="phone-sized photos (4032x3024 resampled from samples)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=4, help="concurrent requests when served (0: skip)")
    parser.add_argument("--only", choices=["samples", "phone"], help="one photo set only")
    parser.add_argument("--engine", default="u2netp-int8", choices=["u2netp-int8", "u2netp"], help="our engine")
    parser.add_argument("--sequential-only", action="store_true")
    parser.add_argument("--serving-only", action="store_true")
    args = parser.parse_args(argv)
    names = sample_names()
    samples = {n: sample_bytes(n) for n in names}
    orientations = [1, 6, 8, 3]
    phones = {f"{n}@12MP-o{orientations[i % 4]}": phone_photo(n, orientations[i % 4])
              for i, n in enumerate(names[: args.phone])}
    results = {"engine": args.engine}
    print(f"ours: {args.engine}; rembg: u2netp (fp32)")
    sets = [("samples", "pet samples at their own size (192-700 px)", samples),
            ("phone", "phone-sized: samples resampled to 4032x3024, EXIF orientations 1/6/8/3", phones)]
    for key, label, photos in sets:
        if not photos or (args.only and args.only != key):
            continue
        if not args.serving_only:
            results[key] = compare(photos, args.rounds, args.engine)
            report(label, results[key])
        if args.clients and not args.sequential_only:
            results[f"{key}_served"] = serve(photos, args.rounds, args.clients, args.engine)
            report_serving(label, results[f"{key}_served"])
    write("vs_rembg", results)
    return results


if __name__ == "__main__":
    main()
