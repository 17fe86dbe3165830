"""`python -m bench [name ...]` (what `make bench` runs): every benchmark, or the ones named.

Each prints its figures and writes bench/results/<name>.json. `--quick` runs
smaller sets (a smoke run, not figures to quote)."""

from __future__ import annotations

import argparse
import time

from bench import e2e_latency, edges, gpu, hostile, int8_quality, memory, pipeline, subject_gate, variants, vs_rembg

QUICK = {"vs_rembg": ["--phone", "2", "--rounds", "1"], "pipeline": ["--phone", "2", "--service-images", "8",
                                                                    "--passes", "2"],
         "memory": ["--images", "100"], "gpu": ["--passes", "5", "--service-images", "16"],
         "e2e_latency": ["--photos", "6", "--burst-threads", "3"], "hostile": ["--runs", "1"],
         "edges": ["--images", "3", "--phone", "1", "--large", "1", "--rounds", "1"], "subject_gate": ["--phone", "0"],
         "variants": ["--images", "3", "--phone", "1"], "int8_quality": []}
BENCHMARKS = {"vs_rembg": vs_rembg.main, "pipeline": pipeline.main, "memory": memory.main, "gpu": gpu.main,
              "e2e_latency": e2e_latency.main, "hostile": hostile.main, "edges": edges.main,
              "subject_gate": subject_gate.main, "variants": variants.main,
              "int8_quality": int8_quality.main}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if unknown := set(args.names) - set(BENCHMARKS):
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    for name in args.names or list(BENCHMARKS):
        started = time.perf_counter()
        print(f"== {name}")
        BENCHMARKS[name](QUICK[name] if args.quick else [])
        print(f"== {name}: {time.perf_counter() - started:.0f} s\n")


if __name__ == "__main__":
    main()
