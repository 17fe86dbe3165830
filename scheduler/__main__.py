"""python -m scheduler {apply,simulate,season,fire}

  apply     make Cloud Scheduler hold the schedule's jobs (idempotent; --dry-run)
  simulate  the shipped schedule against baselines and a search: table and chart
  season    one schedule over a whole generated season (or --trace), one table
  fire      fire one job now at a local URL, as the local stack does
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import date

from scheduler.windows import default_schedule, load_schedule


def _model(args):
    from scheduler.simulator import ServiceModel  # numpy: the simulator is a dev tool, apply runs without it

    m = ServiceModel()
    return replace(m, idle_timeout_s=args.idle if args.idle is not None else m.idle_timeout_s,
                   cold_start_s=args.cold_start if args.cold_start is not None else m.cold_start_s,
                   per_image_s=args.per_image if args.per_image is not None else m.per_image_s,
                   concurrency=args.concurrency or m.concurrency, batch_size=args.batch or m.batch_size)


def _schedule(args):
    return load_schedule(args.schedule) if args.schedule else default_schedule()


def cmd_apply(args) -> int:
    from bootstrap import cloud_scheduler_client
    from scheduler.apply import apply

    targets = dict(pair.split("=", 1) for pair in args.target)
    changes = apply(cloud_scheduler_client(args.endpoint), _schedule(args), project=args.project, region=args.region,
                    target_url=args.target_url, service_account=args.service_account, dry_run=args.dry_run,
                    target_urls=targets)
    for change in changes:
        print(("would " if args.dry_run else "") + str(change))
    print(f"{len(changes)} change(s)" + (" (dry run)" if args.dry_run else ""))
    return 0


def cmd_simulate(args) -> int:
    from scheduler import compare, report, traffic

    started = time.perf_counter()
    model = _model(args)
    if args.trace:
        comparisons = [compare.trace_comparison(traffic.load_trace(args.trace), seed=args.seed, model=model,
                                                store=_schedule(args))]
    else:
        comparisons = compare.compare(seed=args.seed, model=model, store=_schedule(args), search=not args.no_search,
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

    from scheduler import report, traffic
    from scheduler.compare import Comparison
    from scheduler.simulator import simulate

    started = time.perf_counter()
    if args.trace:
        uploads = traffic.load_trace(args.trace)
    else:
        first = date.fromisoformat(args.start)
        uploads = traffic.generate(first, args.days, per_day=args.per_day, seed=args.seed)
    result = simulate(uploads, _schedule(args), model=_model(args), seed=args.seed, name="store schedule")
    Console(width=160).print(report.table(Comparison("season", [("store schedule (shipped)", result)], [], None)))
    print(f"{result.jobs:,} images simulated in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_fire(args) -> int:
    from scheduler.local import LocalScheduler

    status = LocalScheduler(args.target_url, _schedule(args)).fire_now(args.job)
    print(f"{args.job}: HTTP {status}")
    return 0 if 200 <= status < 300 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scheduler", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schedule", help="a schedules.yaml other than the shipped one")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("apply", help="create/update/delete this project's Cloud Scheduler jobs")
    p.add_argument("--project", required=True)
    p.add_argument("--region", required=True)
    p.add_argument("--target-url", required=True, help="the pre-warm function's URL (also the OIDC audience)")
    p.add_argument("--target", action="append", default=[], metavar="NAME=URL",
                   help="another target function's URL, e.g. health_check=https://...")
    p.add_argument("--service-account", required=True, help="the identity Cloud Scheduler signs its OIDC token as")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--endpoint", default="", help="a local Cloud Scheduler stand-in (http://host:port)")
    p.set_defaults(func=cmd_apply)

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

    p = sub.add_parser("fire", help="fire one job now at a local URL")
    p.add_argument("--target-url", required=True)
    p.add_argument("--job", default="tick")
    p.set_defaults(func=cmd_fire)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
