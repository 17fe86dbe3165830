"""The demo's contact sheet: one row per input, three panels each: the photo as the
shopper sees it (EXIF orientation applied), its cut-out on a checkerboard (the store
page's transparency pattern) and the cut-out on the mug (local_stack/mug.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from local_stack.mug import on_mug

PANEL = 300  # each panel is PANEL x PANEL pixels
GAP = 12
HEADER = 36
LABEL = 22  # the row's file name and status, above its panels
COLUMNS = ("photo", "cut-out (checkerboard = transparent)", "on the mug")
SQUARE = 10  # checkerboard squares, as web/pet-upload.css draws them (20px tile)
LIGHT, DARK = (255, 255, 255), (221, 221, 221)
PAPER, PANEL_FILL, INK, WARN = (255, 255, 255), (243, 243, 243), (34, 34, 34), (176, 0, 32)


@dataclass
class Row:
    name: str
    photo: Path | None  # None or unreadable: the panel says so
    cutout: Path | None  # None when the job did not end done
    note: str  # e.g. "done" or "rejected: not_an_image"


def sheet_size(rows: int) -> tuple[int, int]:
    return GAP + len(COLUMNS) * (PANEL + GAP), HEADER + rows * (LABEL + PANEL + GAP)


def panel_box(row: int, column: int) -> tuple[int, int, int, int]:
    """Where a panel sits on the sheet: (left, top, right, bottom)."""
    left = GAP + column * (PANEL + GAP)
    top = HEADER + row * (LABEL + PANEL + GAP) + LABEL
    return left, top, left + PANEL, top + PANEL


def checkerboard(size: tuple[int, int]) -> Image.Image:
    board = Image.new("RGBA", size, LIGHT)
    draw = ImageDraw.Draw(board)
    for y in range(0, size[1], SQUARE):
        for x in range((y // SQUARE) % 2 * SQUARE, size[0], 2 * SQUARE):
            draw.rectangle([x, y, x + SQUARE - 1, y + SQUARE - 1], fill=DARK)
    return board


def on_checkerboard(cutout: Image.Image) -> Image.Image:
    shown = checkerboard(cutout.size)
    shown.alpha_composite(cutout.convert("RGBA"))
    return shown


def _open(path: Path | None) -> Image.Image | None:
    if path is None:
        return None
    try:
        with Image.open(path) as image:
            return ImageOps.exif_transpose(image).convert("RGBA")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _fit(image: Image.Image) -> Image.Image:
    """As large as the panel allows, proportions kept (small inputs are scaled up, to be seen)."""
    return ImageOps.contain(image, (PANEL, PANEL), Image.Resampling.LANCZOS)


def _panels(row: Row) -> list[Image.Image | str]:
    photo, cutout = _open(row.photo), _open(row.cutout)
    if cutout is None:
        missing = "no cut-out: " + row.note
        return [_fit(photo) if photo else "not an image", missing, missing]
    return [_fit(photo) if photo else "not an image", on_checkerboard(_fit(cutout)), _fit(on_mug(cutout, PANEL))]


def build(rows: list[Row]) -> Image.Image:
    sheet = Image.new("RGBA", sheet_size(len(rows)), PAPER)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=14)
    for column, title in enumerate(COLUMNS):
        draw.text((panel_box(0, column)[0], 10), title, fill=INK, font=font)
    for index, row in enumerate(rows):
        left, top, _, _ = panel_box(index, 0)
        draw.text((left, top - LABEL + 3), f"{row.name}: {row.note}", fill=INK if row.cutout else WARN, font=font)
        for column, panel in enumerate(_panels(row)):
            left, top, right, bottom = panel_box(index, column)
            draw.rectangle([left, top, right - 1, bottom - 1], fill=PANEL_FILL)
            if isinstance(panel, str):
                draw.text(((left + right) / 2, (top + bottom) / 2), panel, fill=WARN, font=font, anchor="mm")
                continue
            sheet.alpha_composite(panel, (left + (PANEL - panel.width) // 2, top + (PANEL - panel.height) // 2))
    return sheet.convert("RGB")


def write(outcomes, path: Path) -> Path:
    """A sheet of the storefront's outcomes (storefront.Outcome) at `path` (PNG)."""
    rows = [Row(name=Path(o.file).name, photo=Path(o.file), cutout=Path(o.result) if o.result else None,
                note=o.status + (f": {o.reason}" if o.reason else "")) for o in outcomes]
    path.parent.mkdir(parents=True, exist_ok=True)
    build(rows).save(path)
    return path
