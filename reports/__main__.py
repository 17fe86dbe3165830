"""python -m reports {kpi,weekly,health}

  kpi     every KPI over the last N whole days: a table, or --json
  weekly  the weekly report (Markdown, JSON and a chart) into --out
  health  run the morning health check now (posts to SLACK_WEBHOOK_URL)

Reads the same settings as the functions (settings.py): the emulators' variables
locally, the project's Firestore and Cloud Monitoring otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path


def _report(args, ops, now):
    from functions import kpi_report

    targets = kpi_report.load_targets()
    last = date.fromisoformat(args.end) if args.end else now.astimezone(targets.tz).date() - timedelta(days=1)
    report = kpi_report.build(last, args.days, source=ops.report_source, request_counts=ops.request_counts,
                              service=ops.settings.gpu_service, targets=targets, now=now)
    return report, targets


def cmd_kpi(args, ops, now) -> int:
    from functions import kpi_report

    report, targets = _report(args, ops, now)
    print(json.dumps(kpi_report.as_json(report, targets), indent=2) if args.json else kpi_report.table(report, targets),
          end="" if not args.json else "\n")
    return 0


def cmd_weekly(args, ops, now) -> int:
    from reports import weekly

    report, targets = _report(args, ops, now)
    health = None
    if args.gpu_url:
        status, body = ops.caller.call("GET", args.gpu_url.rstrip("/") + "/health", timeout=120)
        health = json.loads(body) if status == 200 else {"status": f"HTTP {status}"}
    for path in weekly.write(report, targets, health, Path(args.out)):
        print(path)
    return 0


def cmd_health(args, ops, now) -> int:
    from functions import health_check

    result = health_check.handle(store=ops.store, source=ops.report_source, request_counts=ops.request_counts,
                                 caller=ops.caller, notifier=ops.notifier, settings=ops.settings, now=now)
    print(result.get("text") or result.get("note"))
    return 0 if result.get("all_healthy") else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("kpi", help="the KPI report")
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--end", help="the last day (YYYY-MM-DD, store time zone); default yesterday")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_kpi)
    p = sub.add_parser("weekly", help="the weekly report as files")
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--end", help="the week's last day (YYYY-MM-DD); default yesterday")
    p.add_argument("--out", default="out/reports")
    p.add_argument("--gpu-url", default="", help="read the GPU service's /health for the system health section")
    p.set_defaults(func=cmd_weekly)
    p = sub.add_parser("health", help="the morning health check, now")
    p.set_defaults(func=cmd_health)
    args = parser.parse_args(argv)
    if hasattr(args, "days") and not 1 <= args.days <= 92:
        parser.error("--days must be between 1 and 92")

    from bootstrap import Operations
    from settings import Settings

    return args.func(args, Operations(Settings()), datetime.now(timezone.utc))


if __name__ == "__main__":
    sys.exit(main())
