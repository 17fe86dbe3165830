"""Build gpu_service/Dockerfile with podman: production arguments, or CI's (local wheels, random weights).

CI differs from production by build arguments and read-only mounts only:
- torch: this machine's local package index (from `pip config list`), mounted at
  the same path, instead of PyTorch's CUDA 12.x index; PyPI serves the rest
  through the machine's CA bundle, mounted for pip;
- the checkpoint: a random-weights InSPyReNet checkpoint made here, fed to the
  same `curl` step as a file:// URL with its own checksums. A file URL (not a
  loopback server) keeps the build argument, and so the layer cache, the same
  from one run to the next.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from deploy.image import DOCKERFILE, IMAGE, ROOT, WORK, log
from deploy.image.base import dockerfile_arg, ensure_base

CI_MOUNT = "/opt/ci"  # where the CA bundle and the checkpoint appear inside the build
PYPI = "https://pypi.org/simple"

# Seeded, fp16 (186 MB instead of 367 MB; it loads strictly into the fp32 model).
MAKE_CHECKPOINT = """
import sys, torch
from transparent_background.InSPyReNet import InSPyReNet_SwinB
torch.manual_seed(0)
model = InSPyReNet_SwinB(depth=64, pretrained=False, base_size=[1024, 1024], threshold=None)
state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
torch.save(state, sys.argv[1])
"""


def digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ci_checkpoint(folder: Path = WORK / "ckpt") -> Path:
    """The random-weights checkpoint, made once and kept (its checksum is a build argument)."""
    path = folder / "ckpt_random.pth"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        subprocess.run([sys.executable, "-c", MAKE_CHECKPOINT, str(partial)], check=True)
        partial.rename(path)
    return path


def pip_config() -> dict[str, str]:
    """`pip config list` as a dict: key -> value (quotes dropped)."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                         check=True).stdout
    return {k: v for k, v in re.findall(r"^(\S+?)='(.*)'$", out, re.M)}


def local_torch_index(version: str, config: dict[str, str]) -> str:
    """The file:// index in pip's configuration that holds torch `version`."""
    urls = " ".join(config.get(k, "") for k in ("global.index-url", "global.extra-index-url")).split()
    for url in urls:
        index = Path(urlparse(url).path)
        if url.startswith("file://") and any((index / "torch").glob("index.html")):
            if f"torch-{version}-" in (index / "torch" / "index.html").read_text():
                return url
    raise RuntimeError(f"no local package index with torch {version} in pip's configuration ({urls})")


def ci_arguments() -> tuple[dict[str, str], list[str]]:
    """Build arguments and `-v` mounts for a CI build on this machine."""
    config = pip_config()
    index = local_torch_index(dockerfile_arg("TORCH_VERSION"), config)
    index_root = Path(urlparse(index).path).parent  # its links point at ../files beside simple/
    cert = Path(config.get("global.cert") or config.get(":env:.cert") or "/etc/ssl/certs/ca-certificates.crt")
    ckpt = ci_checkpoint()
    args = {
        "TORCH_INDEX_URL": index,
        "TORCH_EXTRA_INDEX_URL": PYPI,
        "PIP_CERT_FILE": f"{CI_MOUNT}/ca.crt",
        "CKPT_URL": f"file://{CI_MOUNT}/ckpt/{ckpt.name}",
        "CKPT_MD5": digest(ckpt, "md5"),
        "CKPT_SHA256": digest(ckpt, "sha256"),
    }
    mounts = [f"{index_root}:{index_root}:ro", f"{cert}:{CI_MOUNT}/ca.crt:ro", f"{ckpt.parent}:{CI_MOUNT}/ckpt:ro"]
    return args, mounts


def build(tag: str = IMAGE, ci: bool = True, log_path: Path = WORK / "build.log") -> float:
    """Build the image; returns the seconds it took. The full output goes to `log_path`."""
    ensure_base()
    args, mounts = ci_arguments() if ci else ({}, [])
    argv = ["podman", "build", "--isolation=chroot", "--pull=never", "--layers", "-f", str(DOCKERFILE), "-t", tag]
    for key, value in args.items():
        argv += ["--build-arg", f"{key}={value}"]
    for mount in mounts:
        argv += ["-v", mount]
    argv.append(str(ROOT))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log_path.open("w") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT)
    seconds = round(time.monotonic() - started, 1)
    if done.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
        raise RuntimeError(f"podman build failed ({done.returncode}) after {seconds}s; {log_path}:\n{tail}")
    log("image_built", image=tag, seconds=seconds, ci=ci)
    return seconds
