"""InSPyReNet `base` (1024x1024) in fp16 on a CUDA GPU, batch 1 to 16: images per second,
p50/p95 latency of a pass, peak GPU memory, and the cost per 1,000 images this
implies at Cloud Run L4 prices (bench/prices.json: prices, source, date, and how
figures from a larger GPU are scaled to an L4). Where no CUDA GPU is present it
says so and skips. Without --ckpt (or INSPYRENET_CKPT) the weights are random:
speed and memory do not depend on their values, only the masks would.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench import engines
from bench.common import median, p95, phone_photo, sample_names, write
from bench.pipeline import service_throughput
from cutout import imaging

PRICES = Path(__file__).with_name("prices.json")


def l4_scale(gpu_name: str, prices: dict) -> tuple[float, float, str]:
    scaling = prices["l4_scaling"]
    known = next((k for k in scaling["fp16_dense_tflops"] if k != "L4" and k.split()[0] in gpu_name), None)
    if known is None:
        return 1.0, 1.0, f"{gpu_name}: no scaling known, figures used as they are"
    return (scaling["fp16_dense_tflops"][known] / scaling["fp16_dense_tflops"]["L4"],
            scaling["memory_bandwidth_gb_s"][known] / scaling["memory_bandwidth_gb_s"]["L4"], known)


def cost_per_1000(images_per_s: float, prices: dict) -> float:
    instance = prices["instance"]
    per_second = (prices["l4_gpu_per_second"] + instance["vcpu"] * prices["vcpu_per_second"]
                  + instance["gib"] * prices["gib_per_second"])
    return 1000 * per_second / images_per_s


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    engines.add_arguments(parser)
    parser.add_argument("--batches", default="1,2,4,8,16")
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--service-images", type=int, default=64)
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is None or not torch.cuda.is_available():
        reason = "no CUDA GPU found on this machine: GPU benchmark skipped"
        print(reason)
        write("gpu", {"skipped": reason})
        return {"skipped": reason}
    args.engine, args.mode, args.device = "inspyrenet", args.mode or "base", args.device or "cuda:0"
    engine, about = engines.build(args)
    gpu = torch.cuda.get_device_name(0)
    prices = json.loads(PRICES.read_text())
    compute_ratio, bandwidth_ratio, scaled_from = l4_scale(gpu, prices)
    names = sample_names()
    photos = [phone_photo(n, (1, 6)[i % 2]) for i, n in enumerate(names[:16])]
    prepared = [engine.prepare(imaging.decode(p)) for p in photos]
    rows = []
    print(f"InSPyReNet {about['mode']} fp16={about['fp16']} on {gpu} ({about['weights']} weights)")
    for batch in [int(b) for b in args.batches.split(",")]:
        chunk = [prepared[i % len(prepared)] for i in range(batch)]
        for _ in range(3):
            engine.forward(chunk)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        seconds = []
        for _ in range(args.passes):
            started = time.perf_counter()
            engine.forward(chunk)  # ends with .cpu(): synchronised
            seconds.append(time.perf_counter() - started)
        images_per_s = batch / median(seconds)
        row = {"batch": batch, "images_per_s": images_per_s, "p50_pass_s": median(seconds), "p95_pass_s": p95(seconds),
               "peak_gpu_memory_bytes": torch.cuda.max_memory_allocated(),
               "cost_per_1000_at_l4_price_this_gpu_speed": cost_per_1000(images_per_s, prices),
               "l4_estimated_images_per_s": images_per_s / compute_ratio,
               "cost_per_1000_l4_estimated": cost_per_1000(images_per_s / compute_ratio, prices),
               "cost_per_1000_l4_pessimistic": cost_per_1000(images_per_s / bandwidth_ratio, prices)}
        rows.append(row)
        print(f"  batch {batch:>2}: {images_per_s:7.1f} img/s, pass p50 {row['p50_pass_s'] * 1000:6.1f} ms "
              f"p95 {row['p95_pass_s'] * 1000:6.1f} ms, peak {row['peak_gpu_memory_bytes'] / 2**30:5.2f} GiB; "
              f"L4 est. {row['l4_estimated_images_per_s']:.1f} img/s, ${row['cost_per_1000_l4_estimated']:.4f}"
              f"/1000 (pessimistic ${row['cost_per_1000_l4_pessimistic']:.4f})")
    service = [service_throughput(engine, photos * (args.service_images // len(photos)), b) for b in (8, 16)]
    for s in service:
        print(f"  service path, phone-sized photos, max batch {s['batch']}: {s['images_per_s']:.1f} img/s, "
              f"p50 {s['p50_latency_s']:.2f} s, p95 {s['p95_latency_s']:.2f} s, mean batch {s['mean_batch_size']:.1f}")
    result = {"engine": about, "gpu": gpu, "l4_scaling": {"compute_ratio": compute_ratio,
                                                          "bandwidth_ratio": bandwidth_ratio, "from": scaled_from},
              "prices": prices, "model": rows, "service": service}
    write("gpu", result)
    return result


if __name__ == "__main__":
    main()
