"""Run a child process under a real memory limit, as a Cloud Function instance has one.

The cgroup v1 memory controller first (a child of this process's own memory cgroup, the
limit in memory.limit_in_bytes, the child's pid in cgroup.procs before it execs; past the
limit the kernel kills it with SIGKILL and memory.max_usage_in_bytes holds its peak).
RLIMIT_AS when cgroups are not writable (it counts virtual memory, so it is stricter
than the deployed limit). `how()` is None when neither works: callers skip.
"""

from __future__ import annotations

import os
import resource
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

KILLED = -9  # Popen's returncode for SIGKILL (a shell shows 137)


@dataclass
class Capped:
    returncode: int
    stdout: str
    stderr: str
    peak_bytes: int | None  # from the cgroup; None under RLIMIT_AS
    how: str


def _own_memory_cgroup() -> Path | None:
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if "memory" in controllers.split(","):
                folder = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
                return folder if folder.is_dir() else None
    except OSError:
        return None
    return None


def _cgroup_writable() -> bool:
    parent = _own_memory_cgroup()
    if parent is None:
        return False
    trial = parent / f"cap-probe-{uuid.uuid4().hex[:8]}"
    try:
        trial.mkdir()
        (trial / "memory.limit_in_bytes").write_text(str(64 << 20))
        return True
    except OSError:
        return False
    finally:
        try:
            trial.rmdir()
        except OSError:
            pass


def how() -> str | None:
    if _cgroup_writable():
        return "cgroup v1"
    try:  # RLIMIT_AS can always be lowered by an unprivileged process; check it is there
        resource.getrlimit(resource.RLIMIT_AS)
        return "RLIMIT_AS"
    except (AttributeError, ValueError, OSError):
        return None


def run(argv: list[str], limit_bytes: int, *, env: dict | None = None, cwd: str | None = None,
        timeout: float = 300) -> Capped:
    method = how()
    if method is None:
        raise RuntimeError("neither a writable memory cgroup nor RLIMIT_AS")
    if method == "RLIMIT_AS":
        def cap() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=cap)
        return Capped(done.returncode, done.stdout, done.stderr, None, method)
    group = _own_memory_cgroup() / f"cap-{uuid.uuid4().hex[:12]}"
    group.mkdir()
    try:
        (group / "memory.limit_in_bytes").write_text(str(limit_bytes))
        swap_limit = group / "memory.memsw.limit_in_bytes"
        if swap_limit.exists():  # no swapping around the limit either
            swap_limit.write_text(str(limit_bytes))
        procs = str(group / "cgroup.procs")

        def join() -> None:  # in the child, before exec: everything it runs is counted
            with open(procs, "w") as f:
                f.write(str(os.getpid()))

        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=join)
        peak = int((group / "memory.max_usage_in_bytes").read_text())
        return Capped(done.returncode, done.stdout, done.stderr, peak, method)
    finally:
        group.rmdir()
