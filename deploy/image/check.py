"""The image's checks from outside: what is installed in it, and its service run offline.

`inspect_packages` reads the image's root (podman image mount); `run_offline`
runs deploy/image/run_check.py inside `unshare -n` (only loopback) and returns
its report, plus any process of the run that outlived it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from deploy.image import ROOT, log
from processes import leftover_processes


def installed_distributions(image: str) -> dict[str, str]:
    """name -> version of every Python distribution in the image's venv (from its dist-info folders)."""
    root = Path(subprocess.run(["podman", "image", "mount", image], capture_output=True, text=True,
                               check=True).stdout.strip())
    try:
        found = {}
        for info in root.glob("opt/venv/lib/python3*/site-packages/*.dist-info"):
            name, _, version = info.name.removesuffix(".dist-info").partition("-")
            found[name.lower().replace("_", "-")] = version
        found["python"] = ",".join(sorted(p.name for p in root.glob("usr/bin/python3.*") if p.name[8:].isdigit()))
        return found
    finally:
        subprocess.run(["podman", "image", "unmount", image], capture_output=True)


def run_offline(image: str, photo: Path, out: Path, ready_timeout: float = 300) -> dict:
    """Start the image's service in a network namespace with only loopback; probe it; stop it."""
    run_id = f"image-{uuid.uuid4().hex[:12]}"
    out.mkdir(parents=True, exist_ok=True)
    argv = ["unshare", "-n", "--", sys.executable, "-m", "deploy.image.run_check", "--image", image,
            "--photo", str(photo), "--out", str(out), "--run-id", run_id, "--ready-timeout", str(ready_timeout)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=ready_timeout + 900)
    if done.returncode != 0:
        raise RuntimeError(f"run_check failed ({done.returncode}):\n{done.stderr[-4000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["left_running"] = leftover_processes(run_id)
    report["run_id"] = run_id
    log("image_run", **{k: report.get(k) for k in ("ready_seconds", "segment", "stop", "left_running")})
    return report
