"""A variant rendered from the stored mask against the segment pass that made the mask, side by
side in one run on the same photos.

Segment: what the GPU service does per job (decode -> pre-process -> forward pass -> mask to
full size -> cut-out -> PNG), with the selected engine. Render: what the variant function does
(cutout/variant_render.py: decode -> stored mask -> cut-out -> crop -> background -> encode) for
each spec below, from the mask that pass produced (as the pipeline keeps it: an 8-bit PNG).
Storage reads and writes are left out of both.
"""

from __future__ import annotations

import argparse
import time

from bench import engines
from bench.common import median, p95, phone_photo, sample_bytes, sample_names, write
from cutout import imaging, masks
from cutout.variant_render import render_variant
from domain.variants import VariantSpec, canonical
from settings import Settings

SPECS = {
    "png transparent": {},
    "webp white, cropped": {"format": "webp", "background": "white", "crop": {"margin": 0.05}},
    "jpeg colour, black and white": {"format": "jpeg", "background": "#1e90ff", "effect": "blackwhite"},
    "png cropped, 1024 px": {"crop": {"margin": 0.1}, "max_side": 1024},
}


def segment(engine, photo: bytes) -> tuple[float, float, bytes]:
    """(seconds for the whole segment path, seconds of the forward pass, the mask as the pipeline keeps it)."""
    started = time.perf_counter()
    image = imaging.decode(photo)
    prepared = engine.prepare(image)
    forward_started = time.perf_counter()
    prediction = engine.forward([prepared])[0]
    forward = time.perf_counter() - forward_started
    mask = engine.finish(prediction, image.size)
    imaging.compose(image, mask)
    seconds = time.perf_counter() - started
    return seconds, forward, masks.encode(masks.quantise(mask))


def run(engine, photos: list[bytes], rounds: int) -> dict:
    settings = Settings()
    specs = {name: canonical(VariantSpec.model_validate(fields), settings.output_max_side) for name, fields in
             SPECS.items()}
    segments, forwards, renders = [], [], {name: [] for name in specs}
    segment(engine, photos[0])  # warm-up: the first pass pays for the engine's lazy set-up
    for photo in photos:
        for _ in range(rounds):
            seconds, forward, mask = segment(engine, photo)
            segments.append(seconds)
            forwards.append(forward)
            for name, spec in specs.items():
                started = time.perf_counter()
                render_variant(photo, mask, spec, settings.variant_decode_budget)
                renders[name].append(time.perf_counter() - started)
    every = [s for values in renders.values() for s in values]
    return {"photos": len(photos), "rounds": rounds,
            "segment_median_s": median(segments), "segment_p95_s": p95(segments),
            "forward_median_s": median(forwards),
            "render_median_s": median(every), "render_p95_s": p95(every),
            "render_median_by_spec_s": {name: median(v) for name, v in renders.items()},
            "render_over_segment": median(every) / median(segments),
            "render_over_forward": median(every) / median(forwards)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    engines.add_arguments(parser)
    parser.add_argument("--images", type=int, default=24, help="sample photos at their own size")
    parser.add_argument("--phone", type=int, default=4, help="samples resampled to 12 MP phone photos")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    engine, about = engines.build(args)
    names = sample_names()
    results = {"engine": about, "specs": SPECS}
    sets = {"samples": [sample_bytes(n) for n in names[:args.images]],
            "phone 12 MP": [phone_photo(n) for n in names[:args.phone]]}
    for label, photos in sets.items():
        if not photos:
            continue
        figures = run(engine, photos, args.rounds)
        results[label] = figures
        print(f"{label} ({figures['photos']} photos, {about.get('name', args.engine)}): segment median "
              f"{figures['segment_median_s'] * 1000:.0f} ms "
              f"(forward pass {figures['forward_median_s'] * 1000:.0f} ms), "
              f"variant render median {figures['render_median_s'] * 1000:.0f} ms = "
              f"{figures['render_over_segment']:.0%} of a segment")
        for name, seconds in figures["render_median_by_spec_s"].items():
            print(f"    {name}: {seconds * 1000:.0f} ms")
    write("variants", results)


if __name__ == "__main__":
    main()
