"""The GPU image's build, started as the session starts, when the session will run tests/image.

Built from scratch it took 588 s here (plus 106 s for the Debian base), mostly writing torch's
CUDA libraries to disk. Started by the one process that outlives every xdist worker (the controller, or
pytest itself without -n), it overlaps every other tier instead of waiting in one worker's queue;
tests/image's fixture waits for its outcome, which a thread here writes to a JSON file that the
environment names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from deploy.image import ROOT, WORK

STATUS_VARIABLE = "PET_IMAGE_BUILD_STATUS"
HERE = Path(__file__).resolve().parent


def selected(config) -> bool:
    """Whether this session's paths and marker expression can reach tests/image."""
    from _pytest.mark.expression import Expression  # pytest's own -m evaluation

    markexpr = config.option.markexpr or ""
    if markexpr and not Expression.compile(markexpr).evaluate(lambda name, **_: name == "image"):
        return False  # an image test (marked image) would be deselected
    paths = [Path(config.invocation_params.dir, arg.split("::")[0]).resolve() for arg in config.args]
    return any(HERE.is_relative_to(path) or path.is_relative_to(HERE) for path in paths)


class EarlyBuild:
    """`python -m deploy.image build` in the background; its outcome in `status` when it ends."""

    def __init__(self, status: Path = WORK / "early-build.json"):
        self.status = status
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.status.parent.mkdir(parents=True, exist_ok=True)
        self.status.unlink(missing_ok=True)
        stderr = self.status.with_suffix(".stderr")
        started = time.monotonic()
        with stderr.open("w") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "deploy.image", "build"], cwd=ROOT,
                                            stdout=subprocess.PIPE, stderr=err, text=True,
                                            env={**os.environ, "PYTHONPATH": str(ROOT)})
        os.environ[STATUS_VARIABLE] = str(self.status)  # before xdist starts its workers: they inherit it
        threading.Thread(target=self._report, args=(started, stderr), daemon=True).start()

    def _report(self, started: float, stderr: Path) -> None:
        out, _ = self.process.communicate()
        outcome = {"returncode": self.process.returncode, "wall_seconds": round(time.monotonic() - started, 1),
                   "build_seconds": float(out.strip().splitlines()[-1]) if self.process.returncode == 0 else None,
                   "stderr_tail": stderr.read_text(errors="replace")[-4000:]}
        partial = self.status.with_suffix(".partial")
        partial.write_text(json.dumps(outcome))
        partial.rename(self.status)  # a reader sees the whole file or none

    def stop(self) -> None:
        """An interrupted session leaves no build behind (podman's own cleanup runs on SIGTERM)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def outcome(timeout: float = 3600) -> dict | None:
    """The early build's outcome, waited for; None when this session started none."""
    path = os.environ.get(STATUS_VARIABLE)
    if not path:
        return None
    deadline = time.monotonic() + timeout
    while not Path(path).is_file():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the early image build wrote no outcome to {path} in {timeout:.0f}s")
        time.sleep(1)
    return json.loads(Path(path).read_text())
