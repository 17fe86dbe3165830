"""Upload-to-cut-out latency through the whole local stack, against the bare imaging path.

`python -m bench e2e_latency`: starts the local stack (emulators, functions, GPU service
with U^2-Net-p on the CPU), warms it, then sends the sample photos as a storefront does
(signed URL, PUT, poll the status every 50 ms), first one at a time, then as a burst.
Baseline, side by side: the same photos through decode -> model -> cut-out -> PNG in this
process, with no bucket, queue or database. The ratio is what the event-driven plumbing
(Pub/Sub pushes, Firestore transactions, Cloud Storage round trips) adds to a job.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from bench.common import median, p95, sample_bytes, sample_names, write
from cutout import imaging
from gpu_service.engines import new_engine


def bare_seconds(photos: list[bytes]) -> list[float]:
    engine = new_engine("u2netp")
    engine.predict([imaging.decode(photos[0])])  # warm
    out = []
    for data in photos:
        started = time.perf_counter()
        image = imaging.decode(data)
        imaging.compose(image, engine.predict([image])[0])
        out.append(time.perf_counter() - started)
    return out


def one_job(shop, data: bytes) -> tuple[float, dict]:
    started = time.perf_counter()
    job_id = shop.upload(data, "image/jpeg")
    status = shop.follow(job_id, timeout=120, every=0.05)
    if status["state"] != "done":
        raise RuntimeError(f"job {job_id} ended {status['state']}: {status['reason']}")
    return time.perf_counter() - started, {**status["stages"], **status["timings"]}


def summary(label: str, seconds: list[float], stages: list[dict], baseline: float) -> dict:
    keys = sorted({k for s in stages for k in s})
    row = {"jobs": len(seconds), "p50_s": median(seconds), "p95_s": p95(seconds),
           "ratio_p50_to_bare": median(seconds) / baseline,
           "stage_medians_s": {k: median([s[k] for s in stages if k in s]) for k in keys}}
    print(f"{label:>12}: {row['jobs']} jobs, p50 {row['p50_s']:.2f} s, p95 {row['p95_s']:.2f} s, "
          f"{row['ratio_p50_to_bare']:.1f}x the bare path")
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--photos", type=int, default=24, help="sample photos per phase")
    parser.add_argument("--burst-threads", type=int, default=6)
    args = parser.parse_args(argv)

    from local_stack.stack import Stack
    from storefront import Storefront

    photos = [sample_bytes(name) for name in sample_names()[: args.photos]]
    bare = bare_seconds(photos)
    baseline = median(bare)
    print(f"{'bare path':>12}: {len(bare)} photos, p50 {baseline:.3f} s, p95 {p95(bare):.3f} s (baseline)")
    # The CPU gains nothing from batching (docs/performance.md): one image per pass.
    with Stack(env={"BATCH_MAX_SIZE": "1"}) as stack:
        shop = Storefront(stack.url("upload_url"), stack.url("job_status"))
        for data in photos[:2]:
            one_job(shop, data)  # warm the functions' clients and the model
        sequential = [one_job(shop, data) for data in photos]
        started = time.perf_counter()
        with ThreadPoolExecutor(args.burst_threads) as pool:
            burst = list(pool.map(lambda data: one_job(shop, data), photos))
        burst_wall = time.perf_counter() - started
    results = {
        "bare_path": {"photos": len(bare), "p50_s": baseline, "p95_s": p95(bare)},
        "sequential": summary("one by one", [s for s, _ in sequential], [t for _, t in sequential], baseline),
        "burst": {**summary(f"burst of {args.burst_threads}", [s for s, _ in burst], [t for _, t in burst], baseline),
                  "threads": args.burst_threads, "images_per_second": len(burst) / burst_wall},
    }
    print(f"{'':>12}  burst throughput {results['burst']['images_per_second']:.2f} images/s")
    write("e2e_latency", results)


if __name__ == "__main__":
    main()
