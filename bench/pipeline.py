"""Per-image stage breakdown and throughput at batch sizes 1, 2, 4, 8 for the selected engine.

Stages, in the worker's order: download, decode, pre-process, inference,
post-process (mask to full size, cut-out), encode (PNG), upload. Here download
and upload read and write a local temporary folder: they stand in for Cloud
Storage, whose latency this machine cannot measure.

Throughput is measured twice per batch size: the model alone (prepared inputs,
one forward pass per batch) and the whole service path (decode -> batcher ->
encode) with 2 x batch request threads feeding one Batcher(max_batch=batch).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import engines
from bench.common import Stopwatch, median, p95, phone_photo, sample_bytes, sample_names, write
from cutout import imaging
from gpu_service.batcher import Batcher

STAGES = ("download", "decode", "preprocess", "inference", "postprocess", "encode", "upload")


def stage_breakdown(engine, photos: list[bytes], folder: Path) -> dict:
    for i, data in enumerate(photos):
        (folder / f"in-{i}.jpg").write_bytes(data)
    laps = {stage: [] for stage in STAGES}
    totals = []
    for i in range(len(photos)):
        watch = Stopwatch()
        data = (folder / f"in-{i}.jpg").read_bytes()
        watch.lap("download")
        image = imaging.decode(data)
        watch.lap("decode")
        prepared = engine.prepare(image)
        watch.lap("preprocess")
        prediction = engine.forward([prepared])[0]
        watch.lap("inference")
        cut = imaging.cut_out(image, engine.finish(prediction, image.size))
        watch.lap("postprocess")
        output = imaging.encode(cut, "png")
        watch.lap("encode")
        (folder / f"out-{i}.png").write_bytes(output)
        watch.lap("upload")
        for stage in STAGES:
            laps[stage].append(watch.laps[stage])
        totals.append(sum(watch.laps.values()))
    medians = {stage: median(v) for stage, v in laps.items()}
    return {"images": len(photos), "median_seconds": medians, "median_total_seconds": median(totals),
            "share_of_total": {s: medians[s] / sum(medians.values()) for s in STAGES}}


def model_throughput(engine, prepared: list, batch: int, passes: int) -> dict:
    engine.forward(prepared[:batch])  # warm this shape
    seconds = []
    for i in range(passes):
        chunk = [prepared[(i * batch + j) % len(prepared)] for j in range(batch)]
        started = time.perf_counter()
        engine.forward(chunk)
        seconds.append(time.perf_counter() - started)
    return {"batch": batch, "images_per_s": batch / median(seconds), "median_pass_s": median(seconds),
            "p95_pass_s": p95(seconds)}


def service_throughput(engine, photos: list[bytes], batch: int) -> dict:
    sizes = []
    batcher = Batcher(engine.forward, max_batch=batch, max_wait=0.005, max_queue=256,
                      on_batch=lambda stats: sizes.append(stats.size))

    def job(data: bytes) -> float:
        started = time.perf_counter()
        image = imaging.decode(data)
        mask = engine.finish(batcher(engine.prepare(image)), image.size)
        imaging.compose(image, mask)
        return time.perf_counter() - started

    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(2 * batch) as pool:
            latencies = list(pool.map(job, photos))
        wall = time.perf_counter() - started
    finally:
        batcher.close()
    return {"batch": batch, "images": len(photos), "images_per_s": len(photos) / wall,
            "p50_latency_s": median(latencies), "p95_latency_s": p95(latencies),
            "mean_batch_size": sum(sizes) / max(len(sizes), 1)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    engines.add_arguments(parser)
    parser.add_argument("--phone", type=int, default=6, help="phone-sized photos for the stage breakdown")
    parser.add_argument("--service-images", type=int, default=24)
    parser.add_argument("--passes", type=int, default=4)
    args = parser.parse_args(argv)
    engine, about = engines.build(args)
    names = sample_names()
    photos = [phone_photo(n, (1, 6)[i % 2]) for i, n in enumerate(names[: args.phone])]
    engine.predict([imaging.decode(photos[0])])  # warm
    with tempfile.TemporaryDirectory() as tmp:
        stages = stage_breakdown(engine, photos, Path(tmp))
    print(f"{about['engine']} on {about['device']}: stage medians over {stages['images']} phone-sized photos "
          f"(4032x3024, resampled from the samples), median total {stages['median_total_seconds']:.3f} s")
    for stage in STAGES:
        print(f"  {stage:<12}{stages['median_seconds'][stage]:8.3f} s  {100 * stages['share_of_total'][stage]:5.1f} %")
    samples = [sample_bytes(n) for n in names]
    prepared = [engine.prepare(imaging.decode(d)) for d in samples[:8]]
    service_photos = [samples[i % len(samples)] for i in range(args.service_images)]
    model, service = [], []
    for batch in (1, 2, 4, 8):
        model.append(model_throughput(engine, prepared, batch, args.passes))
        service.append(service_throughput(engine, service_photos, batch))
        print(f"  batch {batch}: model {model[-1]['images_per_s']:.2f} img/s"
              f" | service {service[-1]['images_per_s']:.2f} img/s, p50 {service[-1]['p50_latency_s']:.2f} s,"
              f" mean batch {service[-1]['mean_batch_size']:.1f}")
    result = {"engine": about, "stages": stages, "model_throughput": model, "service_throughput": service}
    write(f"pipeline_{about['engine']}", result)
    return result


if __name__ == "__main__":
    main()
