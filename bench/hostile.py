"""Hostile uploads against intake's check and the GPU service's decode: peak RSS and CPU seconds.

Each case runs in a fresh subprocess (`main` imported first, as a function instance would),
`--runs` times; the figures are medians. The baseline is a normal 12 MP phone photo.

    python -m bench hostile [--runs 3] [--cases NAME,...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, median, write
from tests import hostile

CASES = {**hostile.GOOD, **hostile.CORPUS}
TARGETS = ("intake", "gpu")


def _measure(path: str, declared: str, target: str) -> dict:
    """In the child: read the case's bytes, run one check and report what it cost."""
    import main  # noqa: F401  (the deployed process has it imported)
    from cutout import imaging
    from domain.uploads import Rejected, inspect
    from settings import get_settings

    data = Path(path).read_bytes()
    settings = get_settings()
    _reset_peak()
    before = resource.getrusage(resource.RUSAGE_SELF)
    rss_before = _status_kib("VmRSS")
    started = time.perf_counter()
    verdict = "ok"
    if target == "intake":
        try:
            inspect(data, declared, settings.max_upload_bytes, settings.intake_decode_budget,
                    settings.gpu_decode_budget)
        except Rejected as rejected:
            verdict = rejected.reason
    else:
        try:
            imaging.decode(data, settings.gpu_decode_budget)
        except imaging.BadImage as bad:
            verdict = bad.reason
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"verdict": verdict, "wall_s": time.perf_counter() - started,
            "cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
            # the peak since _reset_peak, over what the process held just before the check
            "peak_rss_mib": max(0, _status_kib("VmHWM") - rss_before) / 1024}


def _reset_peak() -> None:
    """Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def run_case(path: Path, declared: str, target: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "bench.hostile", "--child", str(path), declared, target], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return {"verdict": f"exit {done.returncode}", "cpu_s": float("nan"), "peak_rss_mib": float("nan"),
                "wall_s": float("nan"), "stderr": done.stderr[-500:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ratio(value: float, base: float) -> str:
    return f"{value / base:5.1f}x" if base > 0 else "    -"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--child", nargs=3, metavar=("FILE", "TYPE", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_measure(*args.child)))
        return
    cases = [c for c in args.cases.split(",") if c] or list(CASES)
    baseline_case = next(iter(hostile.GOOD))
    cases = [baseline_case] + [c for c in cases if c != baseline_case]
    rows, baseline = [], {}
    print(f"{'case':34} {'target':7} {'verdict':22} {'peak RSS MiB':>12} {'CPU s':>7}  vs the 12 MP photo")
    folder = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    for case in cases:
        maker, declared = CASES[case]
        path = folder / "case"
        path.write_bytes(maker())  # made here, so the child's peak is the check's alone
        for target in TARGETS:
            runs = [run_case(path, declared, target) for _ in range(args.runs)]
            verdicts = sorted({r["verdict"] for r in runs})
            row = {"case": case, "target": target, "verdict": "/".join(verdicts), "runs": len(runs),
                   "peak_rss_mib": median(r["peak_rss_mib"] for r in runs), "cpu_s": median(r["cpu_s"] for r in runs)}
            rows.append(row)
            base = baseline.setdefault(target, row)  # the first case is the baseline photo
            print(f"{case:34} {target:7} {row['verdict']:22} {row['peak_rss_mib']:12.0f} {row['cpu_s']:7.2f}  "
                  f"{_ratio(row['peak_rss_mib'], base['peak_rss_mib'])} RSS, {_ratio(row['cpu_s'], base['cpu_s'])} CPU",
                  flush=True)
    shutil.rmtree(folder)
    write("hostile", {"runs_per_case": args.runs, "rows": rows})


if __name__ == "__main__":
    main()
