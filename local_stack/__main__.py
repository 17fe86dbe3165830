"""python -m local_stack {up,demo,process,doctor}

  up [--cloud-run]   run the stack until Ctrl-C (with a local Cloud Run and the schedules firing)
  demo --out DIR     push the demo photos (and --photos DIR) through it; table and DIR/contact_sheet.png;
                     exit 1 if a valid photo failed
  process FILE...    the same for any files; one JSON line per file
  doctor             say what is missing to run the stack
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from local_stack import contact_sheet
from local_stack.demo_photos import demo_photos
from local_stack.stack import Stack, doctor
from processes import StackError
from storefront import Storefront, process


def _terminate(signum, frame):  # SIGTERM behaves like Ctrl-C: the stack stops its children
    raise KeyboardInterrupt


def storefront(stack: Stack) -> Storefront:
    return Storefront(stack.url("upload_url"), stack.url("job_status"))


def run_files(stack: Stack, files: list[Path], out_dir: Path, workers: int = 4, **options) -> list:
    shop = storefront(stack)
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda f: process(shop, f, out_dir, on_poll=stack.check, **options), files))


def print_table(outcomes, expected_bad: set[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="pet cut-outs (seconds per stage)")
    columns = {"to queue": "awaiting_upload->queued", "in queue": "queued->processing",
               "processing": "processing->done", "of which segment": "segment"}
    for column in ("file", "job", "status", "reason", *columns):
        table.add_column(column, justify="right" if column in columns else "left")
    for o in outcomes:
        status = o.status + (" (expected)" if Path(o.file).name in expected_bad else "")
        stages = [f"{o.timings[key]:.2f}" if key in o.timings else "" for key in columns.values()]
        table.add_row(Path(o.file).name, o.job_id[:8], status, o.reason, *stages)
    Console(width=140).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_stack")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("--cloud-run", action="store_true",
                    help="the GPU service behind a local Cloud Run, with the store's schedules firing at pre-warm")
    sub.add_parser("doctor")
    fire = sub.add_parser("fire",
                          help="fire one of the store's schedule jobs now at a local URL, as `up --cloud-run` does")
    fire.add_argument("--target-url", required=True)
    fire.add_argument("--job", default="tick")
    demo = sub.add_parser("demo")
    demo.add_argument("--out", type=Path, default=Path("out"))
    demo.add_argument("--photos", type=Path, help="a folder of your own photos to add")
    proc = sub.add_parser("process")
    proc.add_argument("files", nargs="+", type=Path)
    proc.add_argument("--out", type=Path, default=Path("out"))
    proc.add_argument("--format", choices=["png", "webp", "jpeg"], default="png")
    proc.add_argument("--effect", choices=["none", "blackwhite"], default="none")
    args = parser.parse_args(argv)

    if args.command == "fire":
        from local_stack.cron import LocalScheduler
        from scheduler.windows import default_schedule

        status = LocalScheduler(args.target_url, default_schedule()).fire_now(args.job)
        print(f"{args.job}: HTTP {status}")
        return 0 if 200 <= status < 300 else 1

    if args.command == "doctor":
        problems = doctor()
        print("\n".join(problems) or "local stack: everything needed is installed")
        return 1 if problems else 0

    signal.signal(signal.SIGTERM, _terminate)
    try:
        started = time.monotonic()
        with Stack(cloud_run=getattr(args, "cloud_run", False)) as stack:
            print(f"stack up in {time.monotonic() - started:.1f}s (run {stack.run_id});"
                  f" logs in {stack.workdir / 'logs'}", file=sys.stderr)
            if args.command == "up":
                for name in ("upload_url", "job_status", "store"):
                    print(f"{name}: {stack.url(name)}")
                if stack.scheduler:
                    print(f"schedules fire at {stack.url('prewarm')}/; fire one now with: "
                          f"python -m local_stack fire --job tick --target-url {stack.url('prewarm')}/")
                while True:
                    stack.check()
                    time.sleep(1)
            if args.command == "process":
                for outcome in run_files(stack, args.files, args.out, output_format=args.format, effect=args.effect):
                    print(json.dumps(outcome.row()))
                return 0
            files, expected_bad = demo_photos(args.out / "inputs", args.photos)
            outcomes = run_files(stack, files, args.out)
            print_table(outcomes, expected_bad)
            sheet = contact_sheet.write(outcomes, args.out / "contact_sheet.png")
            failed = [o for o in outcomes if Path(o.file).name not in expected_bad and o.status != "done"]
            stack.check()
            print(f"{len(outcomes) - len(failed)}/{len(outcomes)} as expected; cut-outs in {args.out}/, "
                  f"contact sheet {sheet}", file=sys.stderr)
            return 1 if failed else 0
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
