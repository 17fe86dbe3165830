"""The demo's contact sheet and the mug it draws from web/mug.svg, on small made-up images."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from local_stack import contact_sheet, mug

RED, BLUE = (255, 0, 0), (0, 0, 255)


@pytest.fixture
def files(tmp_path):
    """A blue photo stored sideways (EXIF orientation 6), its cut-out (a red square on
    transparency, 80x40), and a text file named like a photo."""
    photo = tmp_path / "pet.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (40, 80), BLUE).save(photo, exif=exif)
    cutout = Image.new("RGBA", (80, 40), (0, 0, 0, 0))
    cutout.paste((*RED, 255), (30, 10, 50, 30))
    cutout.save(tmp_path / "pet-jpg.png")
    (tmp_path / "liar.jpg").write_text("not a photo\n")
    return photo, tmp_path / "pet-jpg.png", tmp_path / "liar.jpg"


def _pixels(sheet: Image.Image, box) -> np.ndarray:
    return np.asarray(sheet.crop(box).convert("RGB")).astype(int)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


def _is(pixels: np.ndarray, color, tolerance: int = 12) -> np.ndarray:
    return (np.abs(pixels - np.array(color)) <= tolerance).all(axis=-1)


def test_one_row_per_input_with_its_three_panels(files):
    photo, cutout, liar = files
    rows = [contact_sheet.Row("pet.jpg", photo, cutout, "done"),
            contact_sheet.Row("liar.jpg", liar, None, "rejected: not_an_image")]
    sheet = contact_sheet.build(rows)
    assert sheet.size == contact_sheet.sheet_size(2)

    # The photo upright (80 wide, 40 high before fitting): wider than high, as the shopper sees it.
    shown = _bbox(_is(_pixels(sheet, contact_sheet.panel_box(0, 0)), BLUE, 40))
    assert shown[2] - shown[0] == contact_sheet.PANEL and shown[3] - shown[1] == contact_sheet.PANEL // 2

    # The cut-out on the checkerboard: the red square, and around it the two squares' colours alternating.
    checker = _pixels(sheet, contact_sheet.panel_box(0, 1))
    red = _bbox(_is(checker, RED, 40))
    assert abs((red[2] - red[0]) - (red[3] - red[1])) <= 0.05 * (red[2] - red[0])  # still square
    top = (contact_sheet.PANEL - contact_sheet.PANEL // 2) // 2  # where the fitted cut-out starts
    band = checker[top + 2, :contact_sheet.SQUARE * 4]
    runs = [tuple(band[i]) for i in range(2, len(band), contact_sheet.SQUARE)]
    assert runs in ([contact_sheet.LIGHT, contact_sheet.DARK] * 2, [contact_sheet.DARK, contact_sheet.LIGHT] * 2)

    # On the mug: the red square inside the template's print area, square, and centred in it.
    product = _pixels(sheet, contact_sheet.panel_box(0, 2))
    offset = (contact_sheet.PANEL - mug.mug(contact_sheet.PANEL).height) // 2
    left, top, right, bottom = mug.print_area(contact_sheet.PANEL)
    red = _bbox(_is(product, RED, 60))
    assert left <= red[0] and red[2] <= right and top + offset <= red[1] and red[3] <= bottom + offset, (red, left)
    assert abs((red[0] + red[2]) / 2 - (left + right) / 2) <= 1.5

    # The rejected input: no cut-out, so no red anywhere in its row.
    for column in range(3):
        assert not _is(_pixels(sheet, contact_sheet.panel_box(1, column)), RED, 60).any()


def test_the_mug_is_the_svg_template():
    drawn = np.asarray(mug.mug(400).convert("RGB")).astype(int)
    assert drawn.shape[:2] == (320, 400)  # the template's viewBox at scale 1
    left, top, right, bottom = mug.print_area(400)
    assert (left, top, right, bottom) == (90, 100, 270, 250)
    assert _is(drawn[top + 10:bottom - 10, left + 10:right - 10], (255, 255, 255), 0).all()  # white ceramic
    assert _is(drawn[20:40, 20:40], (0xEE, 0xF1, 0xF5), 2).all()  # the backdrop, not the mug
    assert not _is(drawn[165, 345:360], (0xEE, 0xF1, 0xF5), 2).any()  # the handle, right of the body


def test_a_cut_out_wider_than_the_print_area_fits_its_width():
    wide = Image.new("RGBA", (900, 100), (*RED, 255))
    placed = np.asarray(mug.on_mug(wide, 400).convert("RGB")).astype(int)
    left, top, right, bottom = mug.print_area(400)
    red = _bbox(_is(placed, RED, 60))
    assert (red[0], red[2]) == (left, right) and top < red[1] and red[3] < bottom
