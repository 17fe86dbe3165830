"""Memory under load: process RSS after 50 images and after 500, through the service path
(decode -> batcher -> cut-out -> PNG) with 4 request threads. The photos cycle
through the 24 samples at their own size, with one phone-sized photo
(4032x3024, resampled) in every 25 so large buffers come and go too.
Goal: RSS after 500 within 5 % of RSS after 50."""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor

import psutil

from bench import engines
from bench.common import phone_photo, sample_bytes, sample_names, write
from cutout import imaging
from gpu_service.batcher import Batcher
from gpu_service.runtime import limit_heap_growth

CHECKPOINTS = (50, 100, 200, 300, 400, 500)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    engines.add_arguments(parser)
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--glibc-defaults", action="store_true",
                        help="leave malloc as it is (the baseline), instead of the service's setting")
    args = parser.parse_args(argv)
    tuned = False if args.glibc_defaults else limit_heap_growth()  # what the service's Runtime does
    engine, about = engines.build(args)
    names = sample_names()
    samples = [sample_bytes(n) for n in names]
    phones = [phone_photo(n, 6) for n in names[:2]]
    batcher = Batcher(engine.forward, max_batch=4, max_wait=0.005, max_queue=64)
    process = psutil.Process()

    def job(i: int) -> None:
        data = phones[(i // 25) % len(phones)] if i % 25 == 24 else samples[i % len(samples)]
        image = imaging.decode(data)
        mask = engine.finish(batcher(engine.prepare(image)), image.size)
        imaging.compose(image, mask)

    rss, done = {}, 0
    print(f"{about['engine']} on {about['device']}: {args.images} images, 4 threads, "
          f"{'service malloc setting' if tuned else 'glibc malloc defaults'}")
    try:
        with ThreadPoolExecutor(4) as pool:
            for checkpoint in [c for c in CHECKPOINTS if c <= args.images]:
                list(pool.map(job, range(done, checkpoint)))
                done = checkpoint
                rss[checkpoint] = process.memory_info().rss
                print(f"  after {checkpoint:>3} images: RSS {rss[checkpoint] / 2**20:7.1f} MiB")
    finally:
        batcher.close()
    first, last = rss[min(rss)], rss[max(rss)]
    growth = (last - first) / first
    print(f"  growth from {min(rss)} to {max(rss)} images: {100 * growth:+.2f} % (goal within 5 %)")
    result = {"engine": about, "malloc_tuned": tuned, "rss_bytes": rss, "growth": growth,
              "within_5_percent": abs(growth) <= 0.05}
    write(f"memory_{about['engine']}{'' if tuned else '_glibc_defaults'}", result)
    return result


if __name__ == "__main__":
    main()
