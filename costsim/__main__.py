"""python -m costsim {simulate,season}: the offline cost and cold-start simulator.

  simulate  the shipped schedule against baselines and a search: table and chart
  season    one schedule over a whole generated season (or --trace), one table

It replays shaped traffic (or a trace) through a model of the GPU service on
Cloud Run, with the production policy itself (scheduler/policy.py) deciding each
tick, and prices each run (costsim/cost.py, costsim/prices.yaml). Nothing here
is deployed; docs/cost.md holds its figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import date

from scheduler.windows import schedule_from


def _model(args):
    from costsim.simulator import ServiceModel

    m = ServiceModel()
    return replace(m, idle_timeout_s=args.idle if args.idle is not None else m.idle_timeout_s,
                   cold_start_s=args.cold_start if args.cold_start is not None else m.cold_start_s,
                   per_image_s=args.per_image if args.per_image is not None else m.per_image_s,
                   concurrency=args.concurrency or m.concurrency, batch_size=args.batch or m.batch_size)


def cmd_simulate(args) -> int:
    from costsim import compare, report, upload_traffic

    started = time.perf_counter()
    model, store = _model(args), schedule_from(args.schedule)
    if args.trace:
        comparisons = [compare.trace_comparison(upload_traffic.load_trace(args.trace), seed=args.seed, model=model,
                                                store=store)]
    else:
        comparisons = compare.compare(seed=args.seed, model=model, store=store, search=not args.no_search,
                                      per_day=args.per_day, days=args.days)
    report.print_tables(comparisons, compare.verdict(comparisons))
    if args.chart:
        print(f"chart: {report.chart(comparisons, args.chart)}")
    print(f"model: cold start {model.cold_start_s:g} s, {model.batch_overhead_s + model.per_image_s:g} s/image "
          f"warm, concurrency {model.concurrency}, batch {model.batch_size}, idle before scale-down "
          f"{model.idle_timeout_s:g} s, seed {args.seed}; {time.perf_counter() - started:.1f} s")
    return 0


def cmd_season(args) -> int:
    from rich.console import Console

    from costsim import report, upload_traffic
    from costsim.compare import Comparison
    from costsim.simulator import simulate

    started = time.perf_counter()
    if args.trace:
        uploads = upload_traffic.load_trace(args.trace)
    else:
        first = date.fromisoformat(args.start)
        uploads = upload_traffic.generate(first, args.days, per_day=args.per_day, seed=args.seed)
    result = simulate(uploads, schedule_from(args.schedule), model=_model(args), seed=args.seed,
                      name="store schedule")
    Console(width=160).print(report.table(Comparison("season", [("store schedule (shipped)", result)], [], None)))
    print(f"{result.jobs:,} images simulated in {time.perf_counter() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m costsim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schedule", help="a schedules.yaml other than the shipped one")
    sub = parser.add_subparsers(dest="command", required=True)

    for name, func, text in (("simulate", cmd_simulate, "compare schedules on shaped traffic or a trace"),
                             ("season", cmd_season, "the shipped schedule over a whole season")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--trace", help="upload times, one a line (Unix seconds or ISO 8601)")
        p.add_argument("--per-day", type=float, default=3000)
        p.add_argument("--idle", type=float, help="seconds idle before Cloud Run stops an instance (900)")
        p.add_argument("--cold-start", type=float, help="seconds from instance start to serving (30)")
        p.add_argument("--per-image", type=float, help="GPU seconds per image on top of 0.4 s per batch (0.6)")
        p.add_argument("--concurrency", type=int, help="requests in flight per instance (4)")
        p.add_argument("--batch", type=int, help="images per forward pass (1)")
        p.set_defaults(func=func)
        if name == "simulate":
            p.add_argument("--days", type=int, default=7)
            p.add_argument("--chart", default="docs/cost.png", help="PNG path ('' for none)")
            p.add_argument("--no-search", action="store_true")
        else:
            p.add_argument("--start", default="2026-11-15")
            p.add_argument("--days", type=int, default=47)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
