"""Production sees a release only in the store's quietest hours.

The store's plan ("Staging before production"): deploy in the quietest window,
typically 02:00-06:00 US Eastern. The release build checks it after staging passed
validation and before production's first step (cloudbuild.yaml `quiet-window`): outside
the window the build stops there, with staging deployed and validated and production
untouched; `--ignore` (substitution _QUIET_WINDOW=ignore) is the operator's word for an
urgent fix. The canary's own windows (10 %, 50 %) start inside it.

    python -m deploy.quiet_window            # exit 0 inside the window, 1 outside
    python -m deploy.quiet_window --ignore   # says so and exits 0
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("America/New_York")  # US Eastern with its daylight saving time
START, END = time(2, 0), time(6, 0)


def inside(moment: datetime, start: time = START, end: time = END) -> bool:
    """Whether `moment` (timezone-aware) falls in [start, end) US Eastern."""
    if moment.tzinfo is None:
        raise ValueError("a moment without a time zone cannot be placed in US Eastern time")
    local = moment.astimezone(ZONE).time()
    return start <= local < end


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Exit 0 inside the release window (02:00-06:00 US Eastern).")
    parser.add_argument("--now", type=datetime.fromisoformat, help="ISO time with offset (default: now)")
    parser.add_argument("--ignore", action="store_true", help="release now, whatever the hour (urgent fix)")
    args = parser.parse_args(argv)
    now = args.now or datetime.now(UTC)
    local = now.astimezone(ZONE).strftime("%H:%M %Z")
    if inside(now):
        print(f"{local}: inside the release window {START:%H:%M}-{END:%H:%M} US Eastern")
        return 0
    if args.ignore:
        print(f"{local}: outside the release window, released anyway (_QUIET_WINDOW=ignore)")
        return 0
    print(f"{local}: outside the release window {START:%H:%M}-{END:%H:%M} US Eastern; staging is deployed and "
          "validated, production untouched. Submit again in the window, or with _QUIET_WINDOW=ignore.",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
