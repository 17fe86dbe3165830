"""U^2-Net-p with its heaviest convolutions in int8: the default CPU engine (ENGINE=u2netp-int8).

About 1.4x the fp32 engine's images per second, and as good a cut-out: on the 24 pet samples
its masks score the same IoU against the ground truth as fp32's (0.8308 against 0.8309) and
leave the same alpha on the true background (14.87 against 14.79 of 255). Against fp32's
masks it is IoU 0.9926 at worst there; on a pet photo outside them (scikit-image's chelsea)
0.980, where fp32 against itself on the photo saved again as JPEG q95 is 0.958: her mask
hovers near 0.5 over a wide band, and any change to the input flips it.
`python -m bench int8_quality`; docs/performance.md.

The same network and pre- and post-processing as `u2netp` (this class only loads other
weights). The weights are derived at set-up (`make models`), never at run time, from the
pinned fp32 file with onnxruntime's static quantiser: the convolutions in INT8_CONVS become
QLinearConv with per-channel int8 weights and uint8 activations, whose ranges are the
99.999th percentiles over scikit-image's bundled photographs (never the held-out pet
samples the benchmarks score on).
https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html

Why these convolutions and not all: quantising every one moves the mask (IoU 0.59 against
fp32 on the pet samples). Quantised one at a time, most cost almost nothing, but the input
layer (Conv_0), Conv_787, Conv_920 and Conv_5 flip whole regions, and together the rest add
up; Conv_243 and Conv_495 were left out for the worst phone photo's IoU (0.988 -> 0.993).
That choice looked at the benchmark photos (the calibration never did), so for it they
are not a clean hold-out: chelsea is.
The 15 kept are about 87 % of the fp32 convolution time on this machine's 2-core EPYC, whose
AVX-512 VNNI runs the int8 ones. Figures: docs/performance.md, `python -m bench vs_rembg`.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from gpu_service.engines.base import EngineError
from gpu_service.engines.u2netp import U2NetP
from gpu_service.engines.weights import U2NETP_SHA256, sha256

INT8_CONVS = ("Conv_810", "Conv_132", "Conv_680", "Conv_812", "Conv_945", "Conv_575", "Conv_682", "Conv_138",
              "Conv_247", "Conv_946", "Conv_110", "Conv_657", "Conv_942", "Conv_136", "Conv_2")
# scikit-image's photographs, in this order (`cat` is chelsea again: it weighs the one pet double).
CALIBRATION = ("chelsea", "coffee", "astronaut", "cat", "rocket", "hubble_deep_field", "immunohistochemistry",
               "retina", "colorwheel")
PERCENTILE = 99.999
# What the derived weights are: change any part of the recipe and this changes, so a stale
# file is refused (run `make models`) and the mask cache misses instead of mixing masks.
RECIPE = json.dumps({"from": U2NETP_SHA256, "int8": INT8_CONVS, "calibration": CALIBRATION,
                     "percentile": PERCENTILE, "format": "QOperator u8s8 per-channel"}, sort_keys=True)
IDENTITY = hashlib.sha256(RECIPE.encode()).hexdigest()
WEIGHTS = "u2netp-int8.onnx"


class U2NetPInt8(U2NetP):
    name = "u2netp-int8"
    mode = "320-int8"
    weights = WEIGHTS

    def verify(self, path: Path) -> str:
        return verified(path)


def verified(path: Path) -> str:
    """The recipe's identity, after checking the file is what `derive` wrote from that recipe."""
    try:
        record = json.loads(_record(path).read_text())
    except (OSError, ValueError) as exc:
        raise EngineError(f"no derivation record beside {path}: run `make models`") from exc
    if record.get("identity") != IDENTITY:
        raise EngineError(f"{path} was derived by another recipe: run `make models`")
    if sha256(path) != record.get("sha256"):
        raise EngineError(f"U^2-Net-p int8 weights at {path} fail their checksum: run `make models`")
    return IDENTITY


def _record(path: Path) -> Path:
    return path.with_suffix(".json")


def derive(source: Path, target: Path) -> Path:
    """Write the int8 weights beside the verified fp32 ones (once: a current file is kept)."""
    try:
        verified(target)
        return target
    except EngineError:
        pass
    if sha256(source) != U2NETP_SHA256:
        raise EngineError(f"{source} is not the pinned U^2-Net-p")
    import numpy as np
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from PIL import Image
    from skimage import data

    fp32 = U2NetP(model_path=source, sessions=1)
    inputs = [fp32.prepare(Image.fromarray(_rgb(getattr(data, name)()))) for name in CALIBRATION]

    class Photos(CalibrationDataReader):
        def __init__(self):
            self._left = iter(inputs)

        def get_next(self):
            x = next(self._left, None)
            return None if x is None else {fp32._input: x[None].astype(np.float32)}

    partial = target.with_suffix(".part")
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared))
        quantize_static(str(prepared), str(partial), Photos(), quant_format=QuantFormat.QOperator, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.Percentile, nodes_to_quantize=list(INT8_CONVS),
                        extra_options={"CalibPercentile": PERCENTILE})
        partial.replace(target)
    _record(target).write_text(json.dumps({"identity": IDENTITY, "sha256": sha256(target), "recipe": RECIPE},
                                          indent=1) + "\n")
    return target


def _rgb(pixels):
    import numpy as np

    return np.stack([pixels] * 3, -1) if pixels.ndim == 2 else pixels[..., :3]
