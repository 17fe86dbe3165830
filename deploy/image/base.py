"""The Dockerfile's base image, made here from Debian's packages (no registry is reachable).

`debootstrap --variant=minbase` gives the same Debian 12 userland as the
production base (`debian:<point release>-slim`); it is imported under that very
name, so `FROM ${BASE_IMAGE}` resolves locally and the build never pulls.
The Debian mirror is the one this machine's apt already uses, read at run time.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from pathlib import Path

from deploy.image import DOCKERFILE, log

SUITE = "bookworm"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


def dockerfile_arg(name: str, dockerfile: Path = DOCKERFILE) -> str:
    """The default value of `ARG name=...` in the Dockerfile."""
    found = re.search(rf"^ARG {name}=(\S+)$", dockerfile.read_text(), re.M)
    if not found:
        raise ValueError(f"{dockerfile} has no default for ARG {name}")
    return found.group(1)


def debian_mirror(sources: tuple[Path, ...] = APT_SOURCES) -> str:
    """The first Debian archive URI apt uses for the suite (one-line or deb822 format)."""
    files: list[Path] = []
    for src in sources:
        files += sorted(src.glob("*.list")) + sorted(src.glob("*.sources")) if src.is_dir() else [src]
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text()
        for uri, suites in re.findall(r"^URIs:\s*(\S+)\s*\nSuites:\s*([^\n]+)", text, re.M):
            if SUITE in suites.split() and "security" not in uri:
                return uri
        for uri, suite in re.findall(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", text, re.M):
            if suite == SUITE:
                return uri
    raise RuntimeError(f"no Debian {SUITE} mirror in {', '.join(map(str, sources))}")


def image_exists(name: str) -> bool:
    return subprocess.run(["podman", "image", "exists", name]).returncode == 0


def ensure_base(name: str | None = None) -> str:
    """Make the base image `name` (the Dockerfile's BASE_IMAGE) unless it exists already."""
    name = name or dockerfile_arg("BASE_IMAGE")
    if image_exists(name):
        return name
    mirror = debian_mirror()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="debootstrap-") as root:
        subprocess.run(["debootstrap", "--variant=minbase", SUITE, root, mirror], check=True,
                       stdout=subprocess.DEVNULL)
        version = Path(root, "etc/debian_version").read_text().strip()
        # The slim image's apt lists are empty; so are these.
        subprocess.run(["sh", "-c", f"rm -rf {root}/var/lib/apt/lists/* {root}/var/cache/apt/*.bin"], check=True)
        tar = subprocess.Popen(["tar", "-C", root, "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["podman", "import", "--change", 'CMD ["bash"]', "-", name], stdin=tar.stdout, check=True,
                       stdout=subprocess.DEVNULL)
        if tar.wait() != 0:
            raise RuntimeError("tar of the debootstrap tree failed")
    log("base_image_made", image=name, debian_version=version, mirror=mirror,
        seconds=round(time.monotonic() - started, 1))
    if not name.split(":")[-1].startswith(version):
        log("base_image_version_differs", image=name, debian_version=version)
    return name
