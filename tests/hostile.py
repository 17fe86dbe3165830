"""Hostile uploads, made at run time (no stored binaries): each is sized to the deployed
limits, not to a laptop. Used by the tests and by `python -m bench hostile`.

Every maker returns bytes; `CORPUS` names them with the type a shopper would declare.
Results are cached per process: some take a few seconds to encode.
"""

from __future__ import annotations

import gzip
import io
import struct
from functools import lru_cache

from PIL import Image


def _photo(size: tuple[int, int]) -> Image.Image:
    """Photo-like content (scikit-image's cat, resampled) so lossy encoders do real work."""
    from skimage import data

    return Image.fromarray(data.chelsea()).resize(size, Image.Resampling.BILINEAR)


@lru_cache
def blank_lossless_webp() -> bytes:
    """8000x8000, lossless, one colour: a few dozen bytes that libwebp decodes at full size."""
    out = io.BytesIO()
    Image.new("RGB", (8000, 8000), "white").save(out, "WEBP", lossless=True, quality=0, method=0)
    return out.getvalue()


@lru_cache
def lossy_webp_48mp() -> bytes:
    out = io.BytesIO()
    _photo((8000, 6000)).save(out, "WEBP", quality=80, method=0)
    return out.getvalue()


@lru_cache
def png_64mp() -> bytes:
    """8000x8000 (exactly the 64 MP cap), smooth content so it stays far under 30 MB."""
    out = io.BytesIO()
    Image.linear_gradient("L").resize((8000, 8000)).convert("RGB").save(out, "PNG", compress_level=1)
    return out.getvalue()


@lru_cache
def interlaced_png() -> bytes:
    """Adam7 interlaced (Pillow can read but not write it): a small real one, built by hand."""
    return _png_by_hand(640, 480, interlace=1)


@lru_cache
def apng(frames: int = 300) -> bytes:
    out = io.BytesIO()
    first, *rest = [Image.new("RGB", (64, 64), (i % 256, 0, 0)) for i in range(frames)]
    first.save(out, "PNG", save_all=True, append_images=rest, duration=20)
    return out.getvalue()


@lru_cache
def animated_webp(frames: int = 500) -> bytes:
    out = io.BytesIO()
    first, *rest = [Image.new("RGB", (64, 64), (0, i % 256, 0)) for i in range(frames)]
    first.save(out, "WEBP", save_all=True, append_images=rest, duration=20, lossless=True, method=0)
    return out.getvalue()


@lru_cache
def progressive_jpeg(size: tuple[int, int] = (4032, 3024)) -> bytes:
    """A normal progressive photo (libjpeg's default script: 10 scans)."""
    out = io.BytesIO()
    _photo(size).save(out, "JPEG", quality=90, progressive=True)
    return out.getvalue()


@lru_cache
def scan_bomb(scans: int, size: tuple[int, int] = (8000, 6000)) -> bytes:
    """A progressive JPEG whose last AC scan is repeated until there are `scans` scans.

    libjpeg cannot write repeated scans, so the file is edited: split at the markers,
    copy the last SOS segment (header and entropy-coded data) before EOI. Every size
    and pixel check passes; the decoder does one pass over all blocks per scan."""
    out = io.BytesIO()
    Image.new("RGB", size, (120, 90, 60)).save(out, "JPEG", quality=90, progressive=True)
    data = out.getvalue()
    sos = _sos_segments(data)
    start, end = sos[-1]
    extra = scans - len(sos)
    if extra < 0:
        raise ValueError(f"the encoder already wrote {len(sos)} scans")
    return data[:end] + data[start:end] * extra + data[end:]


def gzip_encoded_jpeg() -> tuple[bytes, dict[str, str]]:
    """A real JPEG, gzipped, to be stored with Content-Encoding: gzip (Cloud Storage would
    decompress it on download unless the reader asks for the raw bytes)."""
    out = io.BytesIO()
    _photo((640, 480)).save(out, "JPEG", quality=90)
    return gzip.compress(out.getvalue()), {"Content-Encoding": "gzip"}


@lru_cache
def phone_jpeg_12mp() -> bytes:
    """The baseline: a normal 12 MP phone photo."""
    out = io.BytesIO()
    _photo((4032, 3024)).save(out, "JPEG", quality=90)
    return out.getvalue()


@lru_cache
def phone_jpeg_48mp() -> bytes:
    out = io.BytesIO()
    _photo((8000, 6000)).save(out, "JPEG", quality=90)
    return out.getvalue()


@lru_cache
def mpo_jpeg_61mp() -> bytes:
    """Phones append pictures after the main one (MPO; Ultra HDR gain maps): 9000x6750 + 640x480."""
    out = io.BytesIO()
    _photo((9000, 6750)).save(out, "MPO", save_all=True, append_images=[_photo((640, 480))], quality=85)
    return out.getvalue()


# name -> (maker, declared content type). The gzip case needs object metadata, so it is separate.
CORPUS = {
    "blank 8000x8000 lossless webp": (blank_lossless_webp, "image/webp"),
    "48 MP lossy webp": (lossy_webp_48mp, "image/webp"),
    "64 MP png": (png_64mp, "image/png"),
    "animated webp, 500 frames": (animated_webp, "image/webp"),
    "apng, 300 frames": (apng, "image/png"),
    "progressive jpeg, 300 scans": (lambda: scan_bomb(300), "image/jpeg"),
    "progressive jpeg, 3000 scans": (lambda: scan_bomb(3000), "image/jpeg"),
}
GOOD = {
    "12 MP jpeg (baseline)": (phone_jpeg_12mp, "image/jpeg"),
    "48 MP jpeg": (phone_jpeg_48mp, "image/jpeg"),
    "12 MP progressive jpeg": (progressive_jpeg, "image/jpeg"),
    "interlaced png": (interlaced_png, "image/png"),
}


def _sos_segments(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each SOS segment with its entropy-coded data, by walking the markers."""
    found, i = [], 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ValueError(f"no marker at {i}")
        marker = data[i + 1]
        if marker == 0xD9:
            break
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        j = i + 2 + length
        if marker == 0xDA:  # entropy-coded data runs to the next marker that is not a stuffed 0 or RSTn
            while not (data[j] == 0xFF and data[j + 1] != 0 and not 0xD0 <= data[j + 1] <= 0xD7):
                j += 1
            found.append((i, j))
        i = j
    return found


def _png_by_hand(width: int, height: int, interlace: int) -> bytes:
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    # Adam7 passes: (x0, y0, dx, dy). Each pass's rows are filter byte 0 + RGB pixels.
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    if not interlace:
        passes = [(0, 0, 1, 1)]
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        columns = range(x0, width, dx)
        for y in range(y0, height, dy):
            if columns:
                raw += b"\0" + b"".join(bytes(((x * 255) // width, (y * 255) // height, 128)) for x in columns)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(raw)))
            + chunk(b"IEND", b""))
