"""The GPU image, built from gpu_service/Dockerfile itself and run: its service answers offline, on the CPU.

Builds with podman (cached after the first run: `make image`), then starts the
image's own CMD with its own ENV in a network namespace with only loopback
(deploy/image/run_check.py says why each override), posts a real photo to the
smoke route and stops it. Figures go to .local/image/figures.json.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from deploy.image import IMAGE, WORK
from deploy.image.build import build
from deploy.image.check import installed_distributions, run_offline
from tests.image import early_build
from tests.samples import IMAGES

pytestmark = [pytest.mark.image, pytest.mark.timeout(3600)]
TOOLS = ("podman", "buildah", "debootstrap", "unshare", "ip")


@pytest.fixture(scope="module")
def image() -> dict:
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    assert not missing, f"missing {missing}: run `make image` (it installs them with .ci/install-system image)"
    started = early_build.outcome()  # the session's own early build (tests/image/early_build.py), if any
    if started is None:
        seconds = build(IMAGE)
    else:
        assert started["returncode"] == 0, f"the image build failed:\n{started['stderr_tail']}"
        seconds = started["build_seconds"]
    size = int(subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", IMAGE], capture_output=True,
                              text=True, check=True).stdout)
    return {"tag": IMAGE, "build_seconds": seconds, "size_bytes": size}


@pytest.fixture(scope="module")
def photo():
    photos = sorted(IMAGES.glob("*.jpg"))
    assert photos, f"no sample photos in {IMAGES} (PET_SAMPLES_DIR overrides)"
    return photos[0]


@pytest.fixture(scope="module")
def run(image, photo) -> dict:
    out = WORK / "run"  # kept after the test: the service's log, the cut-out, the metrics
    shutil.rmtree(out, ignore_errors=True)
    report = run_offline(image["tag"], photo, out)
    report["out"] = out
    figures = {"build_seconds": image["build_seconds"], "image_size_bytes": image["size_bytes"],
               "ready_seconds": report.get("ready_seconds"), "warm_seconds": report.get("warm_seconds"),
               "service_cold_start_seconds": report.get("cold_start_seconds"), "segment": report.get("segment"),
               "stop": report.get("stop")}
    (WORK / "figures.json").write_text(json.dumps(figures, indent=2))
    return report


def test_image_holds_python_3_11_cuda_torch_and_only_headless_opencv(image):
    dists = installed_distributions(image["tag"])
    assert dists["python"] == "python3.11"
    assert dists["torch"] == "2.14.1" and any(name.startswith("nvidia-cudnn") for name in dists), "a CUDA torch"
    assert "opencv-python-headless" in dists
    unused = {"opencv-python", "onnxruntime", "triton"} & dists.keys()
    assert not unused, f"the GPU image must not ship {unused}"


def test_service_in_the_image_becomes_ready_offline(run):
    assert all(outcome != "reachable" for outcome in run["network"].values()), run["network"]
    assert run["ready_seconds"] is not None, "\n".join(run["log_tail"])
    assert run["cmd"][:2] == ["sh", "-c"] and "uvicorn gpu_service.app:app" in run["cmd"][-1]
    info = run["model_info"]
    assert info["engine"] == "inspyrenet" and info["mode"] == "base" and info["device"] == "cpu"
    assert info["checkpoint"] == "/models/ckpt_base.pth"


def test_smoke_route_returns_a_cut_out_with_real_alpha(run, photo):
    assert run["segment"]["status"] == 200 and run["segment"]["type"] == "image/png"
    cut = Image.open(io.BytesIO((run["out"] / "cutout.png").read_bytes()))
    assert cut.mode == "RGBA" and cut.size == Image.open(photo).size
    alpha = np.asarray(cut.getchannel("A"))
    # Random weights: no pet shape to expect, but the per-image normalised mask spans 0..1.
    assert (alpha == 0).mean() > 0.001 and (alpha == 255).mean() > 0.001, np.histogram(alpha, bins=8)


def test_metrics_are_scraped_with_the_cold_start(run):
    assert run["metrics_status"] == 200
    text = (run["out"] / "metrics.txt").read_text()
    cold = float(re.search(r"^cold_start_seconds (\S+)$", text, re.M).group(1))
    loaded = float(re.search(r"^model_load_seconds (\S+)$", text, re.M).group(1))
    assert run["warm_seconds"] is not None, "the warm-up pass never finished"
    assert 0 < loaded <= cold <= run["ready_seconds"] + run["warm_seconds"] + 1


def test_service_stops_on_sigterm_and_leaves_nothing(run):
    assert run["stop"]["signal"] == "SIGTERM", run["stop"]
    # uvicorn shuts down, then re-raises the SIGTERM it caught; buildah reports that as status 1.
    log = "\n".join(run["log_tail"])
    assert "Application shutdown complete." in log and "Finished server process" in log, log
    assert "subprocess exited on terminated" in log and "exited on killed" not in log, log
    assert run["stop"]["service_pids"] and run["stop"]["tree_alive"] == [], run["stop"]
    assert run["left_running"] == [], f"processes of run {run['run_id']} left running"
    assert run["buildah_rm"] == 0
    containers = subprocess.run(["buildah", "containers", "--json"], capture_output=True, text=True, check=True)
    assert run["run_id"] not in [c.get("containername") for c in json.loads(containers.stdout or "null") or []]
