"""gpu_service/Dockerfile: the checkpoint is fetched and verified at build, nothing at run time."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "gpu_service" / "Dockerfile"
DOWNLOADERS = ("pip ", "pip3 ", "wget", "curl", "gdown", "huggingface-cli", "git clone", "apt-get")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages(text: str) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions(text):
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


@pytest.fixture(scope="module")
def docker() -> str:
    return DOCKERFILE.read_text()


def _args(text: str) -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S*)$", text, re.M))


def _tb_config() -> dict:
    spec = importlib.util.find_spec("transparent_background")
    if spec is None:
        pytest.skip("transparent-background is not installed")
    return yaml.safe_load((Path(spec.submodule_search_locations[0]) / "config.yaml").read_text())["base"]


def test_checkpoint_is_transparent_backgrounds_own_with_its_checksum(docker):
    args, base = _args(docker), _tb_config()
    assert args["CKPT_URL"] == base["url"]
    assert args["CKPT_MD5"] == base["md5"]


def test_checkpoint_is_downloaded_at_build_and_verified_before_it_is_kept(docker):
    runs = [rest for ins, rest in instructions(docker) if ins == "RUN"]
    fetch = next(r for r in runs if "${CKPT_URL}" in r)
    download = fetch.index("${CKPT_URL}")
    check = fetch.index("md5sum -c")
    assert download < check, "verify after downloading, in the same layer"
    assert "/models/ckpt_base.pth" in fetch[check - 80:check + 40]
    # `&&` chaining: a mismatch fails the build.
    assert " ; " not in fetch


def test_nothing_is_downloaded_at_run_time(docker):
    for ins, rest in instructions(docker):
        if ins in ("CMD", "ENTRYPOINT"):
            assert not any(tool in rest for tool in DOWNLOADERS), rest
    final = stages(docker)[-1]
    installed = " ".join(rest for ins, rest in final if ins == "RUN" and "apt-get install" in rest)
    assert "curl" not in installed and "wget" not in installed, "no downloader in the runtime image"
    env = " ".join(rest for ins, rest in final if ins == "ENV")
    for offline in ("NO_ALBUMENTATIONS_UPDATE=1", "HF_HUB_OFFLINE=1"):
        assert offline in env


def test_runtime_settings_point_at_the_baked_checkpoint(docker):
    final = stages(docker)[-1]
    env = " ".join(rest for ins, rest in final if ins == "ENV")
    assert "ENGINE=inspyrenet" in env and "INSPYRENET_MODE=base" in env and "ENGINE_DEVICE=cuda" in env
    ckpt = re.search(r"INSPYRENET_CKPT=(\S+)", env).group(1)
    assert ckpt == "/models/ckpt_base.pth"
    assert ("COPY", "--from=build /models /models") in final


def test_numba_cache_is_warmed_at_build_for_any_cpu(docker):
    final = stages(docker)[-1]
    env = " ".join(rest for ins, rest in final if ins == "ENV")
    assert "NUMBA_CACHE_DIR=" in env and "NUMBA_CPU_NAME=generic" in env
    warm = " ".join(rest for ins, rest in final if ins == "RUN")
    assert "import pymatting" in warm and "Remover(" in warm


def test_torch_is_the_pinned_cuda_build(docker):
    pins = dict(re.findall(r"^(torch|torchvision)==(\S+)", (ROOT / "gpu_service" / "requirements.txt").read_text(), re.M))
    args = _args(docker)
    assert args["TORCH_VERSION"] == pins["torch"] and args["TORCHVISION_VERSION"] == pins["torchvision"]
    # Production: PyTorch's CUDA 12.x index (Cloud Run's L4 driver is CUDA 12.2); CI passes its own.
    assert re.match(r"https://download\.pytorch\.org/whl/cu12\d$", args["TORCH_INDEX_URL"])
    assert "--index-url ${TORCH_INDEX_URL}" in docker and "torch==${TORCH_VERSION}" in docker
    assert "assert torch.version.cuda" in docker


def test_base_is_a_pinned_debian_12_slim_with_its_python_3_11(docker):
    base = _args(docker)["BASE_IMAGE"]
    assert re.fullmatch(r"debian:12\.\d+-slim", base), "bookworm (Python 3.11), pinned to a point release"
    froms = [rest for ins, rest in instructions(docker) if ins == "FROM"]
    assert froms and all(rest.split()[0] == "${BASE_IMAGE}" for rest in froms), "one base, a build argument"
    assert "cloud.google.com/run/docs/configuring/services/gpu" in docker, "cite what Cloud Run injects"
    installs = [rest for ins, rest in instructions(docker) if ins == "RUN" and "apt-get install" in rest]
    assert installs and all(" python3 " in f" {r} " for r in installs)  # Debian's own python3: 3.11 on bookworm


def test_only_headless_opencv_is_left_and_cv2_is_imported_in_the_final_stage(docker):
    build, final = stages(docker)
    install = next(rest for ins, rest in build if ins == "RUN" and "-r /tmp/req/requirements.txt" in rest)
    # Both wheels share cv2/: remove the non-headless one, then reinstall headless over what it deleted.
    assert install.index("pip uninstall -y opencv-python") < install.index("--force-reinstall")
    assert '"opencv-python-headless==$headless"' in install
    warm = next(rest for ins, rest in final if ins == "RUN" and "Remover(" in rest)
    assert warm.index("import cv2") < warm.index("Remover(")
    assert "'opencv-python'" in warm, "the build fails if the non-headless distribution is still installed"


def test_nothing_unused_goes_into_the_image(docker):
    gpu = (ROOT / "gpu_service" / "requirements.txt").read_text()
    assert "onnxruntime" not in gpu, "onnxruntime serves only the CPU engine"
    assert "onnxruntime" in (ROOT / "requirements-cpu-engine.txt").read_text()
    assert "-r requirements-cpu-engine.txt" in (ROOT / "requirements-dev.txt").read_text()
    assert "pip uninstall -y opencv-python triton" in docker


def test_code_changes_do_not_rebuild_the_warm_layers(docker):
    build, final = stages(docker)
    steps = [(ins, rest) for ins, rest in build if ins in ("RUN", "COPY")]
    torch_at = next(i for i, (ins, rest) in enumerate(steps) if "torch==${TORCH_VERSION}" in rest)
    first_copy = next(i for i, (ins, _) in enumerate(steps) if ins == "COPY")
    assert torch_at < first_copy, "torch before anything from the build context"
    assert all("requirements.txt" in rest for ins, rest in steps if ins == "COPY"), "the build stage copies only requirements"
    kinds = [(ins, rest) for ins, rest in final if ins in ("RUN", "COPY")]
    warm_at = next(i for i, (ins, rest) in enumerate(kinds) if "Remover(" in rest)
    code_at = min(i for i, (ins, rest) in enumerate(kinds) if ins == "COPY" and not rest.startswith("--from"))
    assert warm_at < code_at, "the checkpoint check and numba warm-up come before the service's code"


def test_runs_as_a_non_root_user_and_honours_port(docker):
    final = stages(docker)[-1]
    users = [rest for ins, rest in final if ins == "USER"]
    assert users and users[-1] not in ("root", "0")
    cmd = next(rest for ins, rest in final if ins == "CMD")
    assert "${PORT" in cmd


def _dockerignore_allows(path: str) -> bool:
    allowed = False
    for rule in (ROOT / ".dockerignore").read_text().splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        negate, pattern = rule.startswith("!"), rule.lstrip("!").rstrip("/")
        if pattern == "*" or path == pattern or path.startswith(pattern + "/"):
            allowed = negate
    return allowed


def test_what_the_image_copies_exists_and_is_in_the_build_context(docker):
    sources = []
    for ins, rest in instructions(docker):
        if ins == "COPY" and not rest.startswith("--from"):
            sources += rest.split()[:-1]
    assert sources
    for src in sources:
        assert (ROOT / src).exists(), src
        assert _dockerignore_allows(src.rstrip("/")), f"{src} is excluded by .dockerignore"
    # Every first-party package the service imports is copied.
    imported = set()
    for py in (ROOT / "gpu_service").rglob("*.py"):
        imported |= set(re.findall(r"^\s*(?:from|import) (\w+)", py.read_text(), re.M))
    first_party = {p for p in imported if (ROOT / p).is_dir() or (ROOT / f"{p}.py").is_file()}
    copied = {s.rstrip("/").removesuffix(".py") for s in sources}
    assert first_party <= copied, first_party - copied
