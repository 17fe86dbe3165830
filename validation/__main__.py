"""python -m validation --target <local|staging|production> --report PATH [--only a,b]

Runs every check (validation/checks) against the target's public endpoints, prints a
table, writes the JSON report, and exits 1 when any check fails (2 when it cannot run)."""

from __future__ import annotations

import argparse
import contextlib
import sys
import traceback
from pathlib import Path

from validation import checks
from validation.client import GpuService, fetch_id_token
from validation.context import Context, MemorySampler
from validation.report import Verdict, table, write_json
from validation.targets import LOCAL_NOTES, LOCAL_SCALE, Endpoints, thresholds


def run_checks(target: str, endpoints: Endpoints, only: list[str] | None = None) -> list[Verdict]:
    token = endpoints.gpu_id_token
    if target != "local" and not token:
        token = fetch_id_token(endpoints.gpu_url)
    gpu = GpuService(endpoints.gpu_url, token)
    ctx = Context(target, endpoints, thresholds(target), gpu)
    ctx.memory = MemorySampler(gpu)
    verdicts, loaded = [], False
    for name, check in checks.ORDER.items():
        if only and name not in only:
            continue
        if name in checks.UNDER_LOAD and not loaded:
            ctx.memory.__enter__()
            loaded = True
        if name == "memory" and loaded:
            ctx.memory.__exit__(None, None, None)
            loaded = False
        try:
            verdict = check(ctx)
        except Exception as exc:  # a check that cannot finish has failed; the others still run
            verdict = Verdict(name, False, detail=f"error: {exc!r}"[:300],
                              figures={"traceback": traceback.format_exc()[-1500:]})
        print(f"  {name}: {'PASS' if verdict.passed else 'FAIL'} ({verdict.seconds:.1f} s)", file=sys.stderr)
        verdicts.append(verdict)
    if loaded:
        ctx.memory.__exit__(None, None, None)
    return verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m validation")
    parser.add_argument("--target", choices=["local", "staging", "production"])
    parser.add_argument("--report", type=Path, help="where the JSON report goes")
    parser.add_argument("--list", action="store_true", help="say what each check validates, and stop")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {','.join(checks.ORDER)}")
    args = parser.parse_args(argv)
    if args.list:
        for name, check in checks.ORDER.items():
            print(f"{name}: {' '.join(check.__doc__.split())}\n")
        return 0
    if not args.target or not args.report:
        parser.error("--target and --report are required")
    only = [c for c in args.only.split(",") if c]
    if unknown := set(only) - set(checks.ORDER):
        parser.error(f"unknown checks: {sorted(unknown)}")
    endpoints = Endpoints.from_env()
    if endpoints is None and args.target != "local":
        print("error: set VALIDATION_UPLOAD_URL, VALIDATION_JOB_STATUS_URL, VALIDATION_GPU_URL and "
              "VALIDATION_STORE_ORIGIN for a remote target", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as stack:
        if endpoints is None:
            from validation.local import started_stack

            print("no VALIDATION_* endpoints: starting a local stack", file=sys.stderr)
            endpoints = stack.enter_context(started_stack())
        verdicts = run_checks(args.target, endpoints, only)
    scale_notes = LOCAL_SCALE if args.target == "local" else {}
    notes = LOCAL_NOTES if args.target == "local" else {}
    print(table(verdicts, args.target, scale_notes, notes))
    public = {k: getattr(endpoints, k)
              for k in ("upload_url", "job_status", "gpu_url", "store_origin", "foreign_origin")}
    write_json(args.report, verdicts, args.target, scale_notes, public, notes)
    print(f"report: {args.report}", file=sys.stderr)
    return 0 if verdicts and all(v.passed for v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
