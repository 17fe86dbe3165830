"""The subject gate (domain/subject.py) on pets and on photos without one.

Pets: the 24 shared samples, each judged on the mask the engine gives through
the worker's own decode (U^2-Net-p by default; --engine inspyrenet --ckpt PATH
for the GPU one), and on its ground-truth mask; all must be clear. Also
scikit-image's cat at the sizes the end-to-end tests upload, and
--phone samples resampled to 12 MP (the numbers are shares: they should not move).
Non-pets: tests/non_pets.py (textures, flat scenes, blurred shots made here, and
scikit-image's bundled non-animal photos), judged on the same engine's masks.

Prints, per image, the rule's four numbers and the verdict; then the rates:
samples clear (must be 24/24) and the share of each non-pet kind that ends
no_subject (none) or low_confidence (weak). Also what the gate costs on a
4096-pixel mask, the largest the worker sees.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image

from bench import engines
from bench.common import median, phone_photo, sample_bytes, sample_names, write
from cutout import imaging
from domain import subject
from tests import non_pets
from tests.samples import truth

CAT_SIZES = ((640, 480), (480, 640), (320, 240), (300, 200), (800, 600))


def _row(group: str, kind: str, name: str, judgement: subject.Judgement) -> dict:
    return {"group": group, "kind": kind, "name": name, **judgement.measures.as_dict(),
            "verdict": judgement.verdict.value, "why": judgement.detail}


def _cat(size: tuple[int, int]) -> Image.Image:
    from skimage import data

    return Image.fromarray(data.chelsea()).resize(size)


def judge_all(engine, phone: int) -> list[dict]:
    def engine_mask(image: Image.Image) -> np.ndarray:
        return engine.predict([image])[0]

    rows = []
    for name in sample_names():
        image = imaging.decode(sample_bytes(name))
        rows.append(_row("pet", "sample, U^2-Net-p", name, subject.assess(engine_mask(image))))
        rows.append(_row("pet", "sample, ground truth", name, subject.assess(truth(name))))
    for name in sample_names()[:phone]:
        rows.append(_row("pet", "sample at 12 MP", name,
                         subject.assess(engine_mask(imaging.decode(phone_photo(name))))))
    for size in CAT_SIZES:
        rows.append(_row("pet", "skimage cat", f"chelsea {size[0]}x{size[1]}", subject.assess(engine_mask(_cat(size)))))
    for name, (kind, make) in non_pets.CORPUS.items():
        rows.append(_row("non-pet", kind, name, subject.assess(engine_mask(make()))))
    return rows


def gate_seconds(rounds: int = 20) -> float:
    """Median seconds of assess() on a 4096x3072 float mask (a soft disc)."""
    yy, xx = np.mgrid[0:3072, 0:4096]
    mask = np.clip(1.5 - np.hypot(xx - 2048, yy - 1536) / 800, 0, 1).astype(np.float32)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subject.assess(mask)
        times.append(time.perf_counter() - started)
    return median(times)


def rates(rows: list[dict]) -> dict:
    def share(selected: list[dict], verdicts: tuple[str, ...]) -> dict:
        hit = sum(r["verdict"] in verdicts for r in selected)
        return {"count": hit, "of": len(selected), "share": round(hit / len(selected), 4) if selected else None}

    out = {}
    for kind in dict.fromkeys(r["kind"] for r in rows if r["group"] == "pet"):
        out[f"pet: {kind}: clear"] = share([r for r in rows if r["kind"] == kind], ("clear",))
    non = [r for r in rows if r["group"] == "non-pet"]
    for kind in dict.fromkeys(r["kind"] for r in non):
        picked = [r for r in non if r["kind"] == kind]
        out[f"non-pet: {kind}: none or weak"] = share(picked, ("none", "weak"))
        out[f"non-pet: {kind}: none"] = share(picked, ("none",))
    subjectless = [r for r in non if r["kind"] in non_pets.SUBJECTLESS]
    out["non-pet: subjectless (texture, flat, blurred): none or weak"] = share(subjectless, ("none", "weak"))
    out["non-pet: all: none or weak"] = share(non, ("none", "weak"))
    return out


def report(result: dict) -> None:
    print(f"{'group':8} {'kind':22} {'name':30} {'cover':>6} {'border':>6} {'uncert':>6} {'largest':>7}  verdict")
    for r in result["images"]:
        print(f"{r['group']:8} {r['kind']:22} {r['name']:30} {r['coverage']:6.3f} {r['border']:6.3f} "
              f"{r['uncertain']:6.3f} {r['largest']:7.3f}  {r['verdict']}{'  (' + r['why'] + ')' if r['why'] else ''}")
    print("rule:", "none if " + " or ".join(result["rule"]["none"])
          + "; weak if " + " or ".join(result["rule"]["weak"]))
    for label, r in result["rates"].items():
        print(f"  {label}: {r['count']}/{r['of']} ({100 * r['share']:.0f} %)")
    print(f"gate on a 4096x3072 mask: {1000 * result['gate_seconds_4096']:.1f} ms (median)")


def _describe(limit: subject.Limit) -> str:
    parts = ([f"{limit.measure} < {limit.low:g}"] if limit.low is not None else []) + \
            ([f"{limit.measure} > {limit.high:g}"] if limit.high is not None else [])
    return " or ".join(parts)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phone", type=int, default=4, help="samples also judged at 12 MP")
    engines.add_arguments(parser)
    args = parser.parse_args(argv)
    engine, note = engines.build(args)
    if note["weights"].startswith("random"):
        raise SystemExit("the gate judges masks: a random-weights engine's masks mean nothing (give --ckpt)")
    rows = judge_all(engine, args.phone)
    result = {"engine": note, "images": rows, "rates": rates(rows), "gate_seconds_4096": gate_seconds(),
              "rule": {"none": [_describe(x) for x in subject.RULE.none],
                       "weak": [_describe(x) for x in subject.RULE.weak]}}
    report(result)
    write("subject_gate", result)
    return result


if __name__ == "__main__":
    main()
