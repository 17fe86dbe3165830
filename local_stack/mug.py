"""The store's mug mock-up (web/mug.svg) drawn with Pillow, and a cut-out placed on it.

The page shows the same SVG in the browser; here only the subset it keeps to is drawn
(rect and ellipse; fill, fill-opacity, stroke, stroke-width, a rect's stroke-dasharray), so
the contact sheet's mug and print area are the page's."""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from pathlib import Path

from PIL import Image, ImageColor, ImageDraw

TEMPLATE = Path(__file__).resolve().parent.parent / "web" / "mug.svg"
PRINT_AREA = "print-area"
SUPERSAMPLE = 4  # Pillow draws without anti-aliasing: draw 4x larger, then shrink

_SVG = "{http://www.w3.org/2000/svg}"


def _shapes(template: Path = TEMPLATE) -> tuple[tuple[float, float], list[ET.Element]]:
    root = ET.parse(template).getroot()
    _, _, width, height = (float(v) for v in root.get("viewBox").split())
    return (width, height), [e for e in root if e.tag in (_SVG + "rect", _SVG + "ellipse")]


def print_area(width: int) -> tuple[int, int, int, int]:
    """The print area (left, top, right, bottom) on a mug drawn `width` pixels wide."""
    (view_width, _), shapes = _shapes()
    area = next(e for e in shapes if e.get("id") == PRINT_AREA)
    scale = width / view_width
    x, y, w, h = (float(area.get(k)) * scale for k in ("x", "y", "width", "height"))
    return round(x), round(y), round(x + w), round(y + h)


def _rgba(color: str | None, opacity: str | None) -> tuple[int, int, int, int] | None:
    if not color or color == "none":
        return None
    return (*ImageColor.getrgb(color)[:3], round(255 * float(opacity or 1)))


def _dashes(draw: ImageDraw.ImageDraw, box, pattern: list[float], color, width: int) -> None:
    left, top, right, bottom = box
    on, off = pattern[0], pattern[1 if len(pattern) > 1 else 0]
    for start, end in (((left, top), (right, top)), ((right, top), (right, bottom)),
                       ((right, bottom), (left, bottom)), ((left, bottom), (left, top))):
        length = abs(end[0] - start[0]) + abs(end[1] - start[1])
        step_x, step_y = (end[0] - start[0]) / length, (end[1] - start[1]) / length
        at = 0.0
        while at < length:
            to = min(at + on, length)
            draw.line([(start[0] + step_x * at, start[1] + step_y * at),
                       (start[0] + step_x * to, start[1] + step_y * to)], fill=color, width=width)
            at = to + off


def _draw(layer: Image.Image, shape: ET.Element, scale: float) -> None:
    draw = ImageDraw.Draw(layer)
    get = lambda name: float(shape.get(name, 0)) * scale  # noqa: E731
    fill = _rgba(shape.get("fill", "#000"), shape.get("fill-opacity"))
    stroke = _rgba(shape.get("stroke"), shape.get("stroke-opacity"))
    stroke_width = max(1, round(get("stroke-width") or scale))
    if shape.tag == _SVG + "ellipse":
        box = [get("cx") - get("rx"), get("cy") - get("ry"), get("cx") + get("rx"), get("cy") + get("ry")]
        if stroke:  # SVG centres the stroke on the outline; Pillow draws it inside the box
            half = stroke_width / 2
            box = [box[0] - half, box[1] - half, box[2] + half, box[3] + half]
        draw.ellipse(box, fill=fill, outline=stroke, width=stroke_width if stroke else 0)
        return
    box = [get("x"), get("y"), get("x") + get("width"), get("y") + get("height")]
    if fill:
        draw.rounded_rectangle(box, radius=get("rx"), fill=fill)
    if stroke and shape.get("stroke-dasharray"):
        pattern = [float(v) * scale for v in shape.get("stroke-dasharray").replace(",", " ").split()]
        _dashes(draw, box, pattern, stroke, stroke_width)
    elif stroke:
        draw.rounded_rectangle(box, radius=get("rx"), outline=stroke, width=stroke_width)


@functools.lru_cache(maxsize=4)
def mug(width: int) -> Image.Image:
    """The mock-up, `width` pixels wide (RGBA, height from the template's proportions)."""
    (view_width, view_height), shapes = _shapes()
    scale = width * SUPERSAMPLE / view_width
    size = (width * SUPERSAMPLE, round(view_height * scale))
    canvas = Image.new("RGBA", size, (0, 0, 0, 0))
    for shape in shapes:  # each on its own layer, so fill-opacity blends as in the browser
        layer = Image.new("RGBA", size, (0, 0, 0, 0))
        _draw(layer, shape, scale)
        canvas.alpha_composite(layer)
    return canvas.resize((width, round(view_height * width / view_width)), Image.Resampling.LANCZOS)


def on_mug(cutout: Image.Image, width: int) -> Image.Image:
    """The cut-out fitted into the print area, centred, keeping its proportions (as the page does)."""
    left, top, right, bottom = print_area(width)
    scale = min((right - left) / cutout.width, (bottom - top) / cutout.height)
    fitted = cutout.convert("RGBA").resize((max(1, round(cutout.width * scale)), max(1, round(cutout.height * scale))),
                                           Image.Resampling.LANCZOS)
    product = mug(width).copy()
    product.alpha_composite(fitted, (left + (right - left - fitted.width) // 2, top + (bottom - top - fitted.height) // 2))
    return product
