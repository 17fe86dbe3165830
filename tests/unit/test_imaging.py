"""Imaging: orientation, every input mode, every output format, metadata and size caps."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageCms

from cutout import imaging
from settings import Settings

W, H = 60, 40
RED, BLUE = (255, 0, 0), (0, 0, 255)

# EXIF orientation -> how the stored pixels relate to the upright picture (the
# inverse of what a viewer does to display them), written out from the EXIF spec.
STORED = {
    1: lambda im: im,
    2: lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    3: lambda im: im.transpose(Image.Transpose.ROTATE_180),
    4: lambda im: im.transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    5: lambda im: im.transpose(Image.Transpose.TRANSPOSE),
    6: lambda im: im.transpose(Image.Transpose.ROTATE_90),
    7: lambda im: im.transpose(Image.Transpose.TRANSVERSE),
    8: lambda im: im.transpose(Image.Transpose.ROTATE_270),
}


def upright() -> Image.Image:
    """Landscape, blue, with a red block in the top-left corner: any wrong turn or flip moves it."""
    im = Image.new("RGB", (W, H), BLUE)
    im.paste(RED, (0, 0, 20, 12))
    return im


def save(im: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **params)
    return out.getvalue()


def gps_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(0x8825)[2] = (51.0, 30.0, 0.0)  # GPSLatitude: the customer's home
    return exif


def close(pixel, colour, tolerance=40) -> bool:
    return all(abs(int(a) - int(b)) <= tolerance for a, b in zip(pixel, colour, strict=False))


def full_mask(im: Image.Image) -> np.ndarray:
    return np.ones((im.height, im.width), np.float32)


def half_mask(im: Image.Image) -> np.ndarray:
    mask = np.zeros((im.height, im.width), np.float32)
    mask[:, : im.width // 2] = 1.0
    return mask


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_gives_an_upright_cut_out_without_exif(orientation):
    data = save(STORED[orientation](upright()), "JPEG", quality=95, exif=gps_exif(orientation))

    image = imaging.decode(data)
    assert image.size == (W, H)
    assert close(image.getpixel((2, 2)), RED) and close(image.getpixel((W - 3, H - 3)), BLUE)

    out = Image.open(io.BytesIO(imaging.encode(imaging.cut_out(image, full_mask(image)), "png")))
    assert out.size == (W, H)
    assert close(out.getpixel((2, 2))[:3], RED) and close(out.getpixel((W - 3, 2))[:3], BLUE)
    assert not out.getexif() and "exif" not in out.info


def make_input(mode: str) -> tuple[bytes, Image.Image]:
    """An image in `mode`, as a file, plus what its pixels should look like as RGB."""
    gradient = np.tile(np.linspace(0, 255, W, dtype=np.uint8), (H, 1))
    if mode == "1":
        im = Image.fromarray(gradient > 127).convert("1")
        return save(im, "PNG"), im.convert("RGB")
    if mode == "L":
        return save(Image.fromarray(gradient, "L"), "PNG"), Image.fromarray(gradient, "L").convert("RGB")
    if mode == "P":
        im = upright().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
        return save(im, "PNG"), upright()
    if mode == "LA":
        im = Image.merge("LA", [Image.fromarray(gradient, "L"), Image.new("L", (W, H), 255)])
        return save(im, "PNG"), Image.fromarray(gradient, "L").convert("RGB")
    if mode == "RGBA":
        im = upright().convert("RGBA")
        return save(im, "PNG"), upright()
    if mode == "CMYK":
        im = Image.new("CMYK", (W, H), (255, 0, 0, 0))  # pure cyan ink
        return save(im, "JPEG", quality=95), Image.new("RGB", (W, H), (0, 255, 255))
    if mode == "I;16":
        wide = (gradient.astype(np.uint16) * 257)  # the full 16-bit range
        im = Image.fromarray(wide)
        assert im.mode == "I;16"
        return save(im, "PNG"), Image.fromarray(gradient, "L").convert("RGB")
    if mode == "RGB-webp":
        return save(upright(), "WEBP", lossless=True), upright()
    raise AssertionError(mode)


@pytest.mark.parametrize("mode", ["1", "L", "P", "LA", "RGBA", "CMYK", "I;16", "RGB-webp"])
@pytest.mark.parametrize("output_format", ["png", "webp", "jpeg"])
def test_every_input_mode_round_trips_to_every_output_format(mode, output_format):
    data, expected = make_input(mode)

    image = imaging.decode(data)
    assert image.mode == "RGB" and image.size == (W, H)
    diff = np.abs(np.asarray(image, np.int16) - np.asarray(expected, np.int16))
    assert diff.max() <= 8, f"{mode} decoded {diff.max()} levels off"

    out = Image.open(io.BytesIO(imaging.encode(imaging.cut_out(image, half_mask(image)), output_format)))
    assert out.format == {"png": "PNG", "webp": "WEBP", "jpeg": "JPEG"}[output_format]
    assert out.size == (W, H)
    if output_format == "jpeg":
        assert out.mode == "RGB"
        assert close(out.getpixel((W - 2, H // 2)), (255, 255, 255), 6)  # background: white
        assert close(out.getpixel((1, H // 2)), expected.getpixel((1, H // 2)), 40)  # subject kept
    else:
        alpha = np.asarray(out.convert("RGBA").getchannel("A"))
        assert alpha[:, : W // 2 - 2].min() == 255 and alpha[:, W // 2 + 2:].max() == 0


def test_an_alpha_already_in_the_input_is_kept():
    rgba = upright().convert("RGBA")
    rgba.putalpha(Image.new("L", (W, H), 0))
    rgba.paste((255, 0, 0, 255), (0, 0, 20, 12))  # only the red block is opaque
    image = imaging.decode(save(rgba, "PNG"))

    out = Image.open(io.BytesIO(imaging.encode(imaging.cut_out(image, full_mask(image)), "png")))
    alpha = np.asarray(out.getchannel("A"))
    assert alpha[:12, :20].min() == 255 and alpha[13:, :].max() == 0 and alpha[:, 21:].max() == 0


def test_jpeg_on_a_hex_background_and_blackwhite_effect():
    image = imaging.decode(save(upright(), "PNG"))
    out = Image.open(io.BytesIO(imaging.encode(imaging.cut_out(image, half_mask(image), "blackwhite"), "jpeg",
                                               background="#1e90ff")))
    assert close(out.getpixel((W - 2, H // 2)), (0x1E, 0x90, 0xFF), 6)
    r, g, b = out.getpixel((5, 5))  # was red: now grey
    assert max(r, g, b) - min(r, g, b) <= 6
    with pytest.raises(ValueError, match="not a colour"):
        imaging.encode(imaging.cut_out(image, half_mask(image)), "jpeg", background="#12345z")


def test_outputs_keep_the_colour_profile_and_drop_exif_and_xmp():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = save(upright(), "JPEG", icc_profile=icc, exif=gps_exif(), xmp=b"<x:xmpmeta>GPS here</x:xmpmeta>")
    image = imaging.decode(data)
    for output_format in ("png", "webp", "jpeg"):
        encoded = imaging.encode(imaging.cut_out(image, half_mask(image)), output_format)
        out = Image.open(io.BytesIO(encoded))
        assert out.info.get("icc_profile") == icc, output_format
        assert not out.getexif(), output_format
        assert "xmp" not in out.info and b"GPS here" not in encoded and b"PhoneMaker" not in encoded


def test_webp_is_smaller_than_png_on_a_photo():
    from skimage import data as skdata

    photo = Image.fromarray(skdata.chelsea())
    image = imaging.decode(save(photo, "JPEG", quality=92))
    cut = imaging.cut_out(image, half_mask(image))
    png, webp = imaging.encode(cut, "png"), imaging.encode(cut, "webp")
    assert len(webp) < 0.8 * len(png)


def test_longest_side_is_capped_on_decode_and_on_encode():
    wide = Image.new("RGB", (5000, 1000), BLUE)
    image = imaging.decode(save(wide, "JPEG"), replace(Settings().gpu_decode_budget, max_side=4096))
    assert image.size == (4096, 819)
    out = Image.open(io.BytesIO(imaging.encode(imaging.cut_out(image, full_mask(image)), "png", max_side=1000)))
    assert out.size == (1000, 200)


def png_header_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb's first bytes."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("data, reason", [
    (png_header_claiming(20000, 20000), "pixel cap"),
    (png_header_claiming(10000, 10000), "pixel cap"),  # under Pillow's own limit, over ours
    (b"just some text, renamed to .jpg", "cannot decode"),
    (save(upright(), "JPEG")[:200], "cannot decode"),
    (b"", "cannot decode"),
    (save(upright(), "GIF"), "cannot decode"),  # a real image, but not a format we take
])
def test_bad_bytes_are_a_clear_bad_image(data, reason):
    with pytest.raises(imaging.BadImage, match=reason):
        imaging.decode(data)


def test_fully_transparent_pixels_keep_no_trace_of_the_background():
    image = imaging.decode(save(upright(), "PNG"))
    out = Image.open(io.BytesIO(imaging.encode(imaging.cut_out(image, half_mask(image)), "png")))
    pixels = np.asarray(out)
    assert pixels[pixels[..., 3] == 0].max() == 0
    assert pixels[pixels[..., 3] == 255][:, :3].max() > 0
