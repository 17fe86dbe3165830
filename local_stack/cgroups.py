"""A memory limit for a local revision, as Cloud Run enforces its container's limit.

cgroup v1's memory controller: a child of this process's own memory cgroup, the
limit in `memory.limit_in_bytes`, the process's pid in `cgroup.procs`. Past the
limit the kernel kills it (as Cloud Run stops an instance over its memory limit);
`memory.max_usage_in_bytes` is the peak, read as the container's memory
utilization. Where the controller is not writable the revision runs unlimited and
its utilization is unknown (None).
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from pathlib import Path

logger = logging.getLogger(__name__)
_UNITS = {"": 1, "K": 1000, "M": 1000 ** 2, "G": 1000 ** 3, "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3}


def parse_bytes(quantity: str) -> int:
    """A Kubernetes quantity as Cloud Run takes it ("512Mi", "2Gi", "1G") in bytes."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)([KMG]i?)?", quantity.strip())
    if not found:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return int(float(found.group(1)) * _UNITS[found.group(2) or ""])


def _own_memory_cgroup() -> Path | None:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return Path("/sys/fs/cgroup/memory") / path.lstrip("/")
    return None


class MemoryLimit:
    def __init__(self, limit_bytes: int, folder: Path):
        self.limit_bytes, self.folder = limit_bytes, folder

    @classmethod
    def create(cls, limit_bytes: int) -> MemoryLimit | None:
        parent = _own_memory_cgroup()
        _sweep(parent)
        try:
            folder = parent / f"local-run-{uuid.uuid4().hex[:8]}"
            folder.mkdir()
            (folder / "memory.limit_in_bytes").write_text(str(limit_bytes))
        except (OSError, TypeError) as exc:
            logger.warning("memory limit not enforced here: %s", exc)
            return None
        return cls(limit_bytes, folder)

    def add(self, pid: int) -> None:
        (self.folder / "cgroup.procs").write_text(str(pid))

    def utilization(self) -> float | None:
        try:
            return int((self.folder / "memory.max_usage_in_bytes").read_text()) / self.limit_bytes
        except OSError:
            return None

    def remove(self) -> None:
        try:
            os.rmdir(self.folder)
        except OSError:
            pass


def _sweep(parent: Path | None, older_than: float = 600.0) -> None:
    """Remove limits left behind by local Cloud Runs that were killed before cleaning up
    (only empty ones: rmdir refuses a cgroup with a process in it)."""
    if parent is None:
        return
    try:
        stale = [f for f in parent.glob("local-run-*") if time.time() - f.stat().st_mtime > older_than]
    except OSError:
        return
    for folder in stale:
        try:
            os.rmdir(folder)
        except OSError:
            pass
