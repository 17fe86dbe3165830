"""python -m scheduler apply: make Cloud Scheduler hold the schedule's jobs (idempotent; --dry-run).

The deploy-time half of scheduler/ (Cloud Build's `schedules` step runs it). The
local stack fires the same jobs itself (local_stack/cron.py, `python -m local_stack
fire`); the cost simulator is an offline tool of its own (`python -m costsim`).
"""

from __future__ import annotations

import argparse
import sys

from scheduler.windows import schedule_from


def cmd_apply(args) -> int:
    from bootstrap import cloud_scheduler_client
    from scheduler.apply import apply

    targets = dict(pair.split("=", 1) for pair in args.target)
    changes = apply(cloud_scheduler_client(args.endpoint), schedule_from(args.schedule), project=args.project,
                    region=args.region, target_url=args.target_url, service_account=args.service_account,
                    dry_run=args.dry_run, target_urls=targets)
    for change in changes:
        print(("would " if args.dry_run else "") + str(change))
    print(f"{len(changes)} change(s)" + (" (dry run)" if args.dry_run else ""))
    return 0


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

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
