"""What an image file says about itself, read from its structure without decoding a pixel.

Walks JPEG markers, PNG chunks and WebP RIFF chunks: the size, the frames, the scans, how
it is coded, and whether the file is whole. The work is one pass over the bytes (the
upload is already capped at 30 MB), so a hostile file costs no more than a friendly one.
Pure parsing: no Pillow, no I/O.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass

# The walk is Python, so its length is bounded too: 30 MB of empty 4-byte JPEG comments would
# be 7.8 million steps. Real files have tens to a few thousand segments (large PNGs: one IDAT
# per 8-64 KB); past this many the file is refused as corrupt after about 0.1 s of walking.
MAX_SEGMENTS = 100_000


class Malformed(ValueError):
    """The structure is broken; `truncated` when the file stops before its end marker."""

    def __init__(self, detail: str, truncated: bool = False):
        super().__init__(detail)
        self.truncated = truncated


@dataclass(frozen=True)
class Probe:
    kind: str  # "jpeg", "png" or "webp"
    width: int
    height: int
    frames: int = 1
    scans: int = 1  # JPEG: SOS segments (a progressive photo has about 10)
    progressive: bool = False  # JPEG progressive, PNG Adam7
    lossless: bool = False  # WebP VP8L
    alpha: bool = False  # PNG and WebP: decoded as RGBA (costlier to resize)
    # JPEG: blocks of 8x8 coefficients over all components (what each scan walks)
    blocks: int = 0
    # PNG: bytes of the inflated image data, filter bytes included; 16-bit grey (Pillow's I;16)
    raw_bytes: int = 0
    grey16: bool = False

    @property
    def pixels(self) -> int:
        return self.width * self.height


def probe(data: bytes, kind: str) -> Probe:
    """Raise Malformed when the structure does not hold together."""
    try:
        return {"jpeg": _jpeg, "png": _png, "webp": _webp}[kind](data)
    except (IndexError, struct.error) as exc:
        raise Malformed(f"{kind} ends inside a header", truncated=True) from exc


# --- JPEG (ITU T.81, annex B) ------------------------------------------------

_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PROGRESSIVE_SOF = {0xC2, 0xC6, 0xCA, 0xCE}
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _jpeg(data: bytes) -> Probe:
    frame = None
    scans, i, segments = 0, 2, 0
    while True:
        segments += 1
        if segments > MAX_SEGMENTS:
            raise Malformed(f"jpeg has more than {MAX_SEGMENTS} segments")
        if i >= len(data):
            raise Malformed("jpeg has no end-of-image marker", truncated=True)
        if data[i] != 0xFF:
            raise Malformed(f"jpeg: no marker at byte {i}")
        while data[i + 1] == 0xFF:  # fill bytes
            i += 1
        marker = data[i + 1]
        if marker == 0xD9:
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # standalone markers
            i += 2
            continue
        (length,) = struct.unpack_from(">H", data, i + 2)
        if length < 2 or i + 2 + length > len(data):
            raise Malformed("jpeg segment runs past the end", truncated=True)
        if marker in _SOF:
            if frame is not None:
                raise Malformed("jpeg has a second frame header")
            frame = _jpeg_frame(data, i + 4, marker)
        i += 2 + length
        if marker == 0xDA:
            if frame is None:
                raise Malformed("jpeg scan before its frame header")
            scans += 1
            i = _end_of_entropy_data(data, i)
    if frame is None or scans == 0:
        raise Malformed("jpeg has no frame or no scan")
    width, height, blocks, progressive = frame
    return Probe("jpeg", width, height, scans=scans, progressive=progressive, blocks=blocks)


def _jpeg_frame(data: bytes, at: int, marker: int) -> tuple[int, int, int, bool]:
    _, height, width, count = struct.unpack_from(">BHHB", data, at)
    if width == 0 or height == 0 or count == 0:
        raise Malformed("jpeg frame has no size (DNL-sized frames are not accepted)")
    factors = [(data[at + 7 + 3 * c] >> 4, data[at + 7 + 3 * c] & 15) for c in range(count)]
    h_max, v_max = max(h for h, _ in factors) or 1, max(v for _, v in factors) or 1
    blocks = sum(-(-width * h // (8 * h_max)) * -(-height * v // (8 * v_max)) for h, v in factors)
    return width, height, blocks, marker in _PROGRESSIVE_SOF


def _end_of_entropy_data(data: bytes, i: int) -> int:
    """Where the next marker starts: 0xFF followed by anything but a stuffed 0, a restart or a fill
    byte. A regular expression, so a scan stuffed with 0xFF00 costs C time, not Python time."""
    found = _MARKER.search(data, i)
    if found is None:
        raise Malformed("jpeg scan data has no end", truncated=True)
    return found.start()


# --- PNG (ISO 15948; APNG) ---------------------------------------------------

_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
_ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def _png(data: bytes) -> Probe:
    i, header, frames, ended, transparency = 8, None, 1, False, False
    for _ in range(MAX_SEGMENTS):
        if i >= len(data):
            break
        length, kind = struct.unpack_from(">I4s", data, i)
        end = i + 12 + length
        if end > len(data):
            raise Malformed(f"png chunk {kind!r} runs past the end", truncated=True)
        body = data[i + 8:i + 8 + length]
        if zlib.crc32(body, zlib.crc32(kind)) != struct.unpack_from(">I", data, end - 4)[0]:
            raise Malformed(f"png chunk {kind!r} fails its CRC")
        if header is None and kind != b"IHDR":
            raise Malformed("png does not start with IHDR")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"acTL":
            frames = max(1, struct.unpack_from(">I", body)[0])
        elif kind == b"tRNS":
            transparency = True
        elif kind == b"IEND":
            ended = True
            break
        i = end
    else:
        raise Malformed(f"png has more than {MAX_SEGMENTS} chunks")
    if header is None:
        raise Malformed("png has no IHDR", truncated=True)
    if not ended:
        raise Malformed("png has no IEND", truncated=True)
    width, height, depth, colour, _, _, interlace = header
    if width == 0 or height == 0 or depth not in _DEPTHS.get(colour, ()) or interlace > 1:
        raise Malformed("png header is invalid")
    bits = _CHANNELS[colour] * depth
    passes = _ADAM7 if interlace else [(0, 0, 1, 1)]
    raw = 0
    for x0, y0, dx, dy in passes:
        columns, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if columns > 0 and rows > 0:
            raw += rows * (1 + -(-columns * bits // 8))
    return Probe("png", width, height, frames=frames, progressive=bool(interlace), raw_bytes=raw,
                 grey16=colour == 0 and depth == 16, alpha=colour in (4, 6) or transparency)


def png_data_inflates(data: bytes, expected: int, chunk: int = 1 << 20) -> None:
    """Inflate the default image's IDAT stream in bounded pieces, keeping none of it: finds
    corrupt or short compressed data with memory of one piece, and stops at `expected` bytes."""
    inflater, produced, i = zlib.decompressobj(), 0, 8
    try:
        while i < len(data):
            length, kind = struct.unpack_from(">I4s", data, i)
            if kind == b"IDAT":
                pending = data[i + 8:i + 8 + length]
                while pending:
                    produced += len(inflater.decompress(pending, chunk))
                    pending = inflater.unconsumed_tail
                    if produced > expected:
                        raise Malformed("png image data is longer than its header says")
            elif kind == b"IEND":
                break
            i += 12 + length
        while not inflater.eof and (piece := inflater.decompress(b"", chunk)):
            produced += len(piece)
    except zlib.error as exc:
        raise Malformed(f"png image data is corrupt: {exc}") from exc
    if produced < expected or not inflater.eof:
        raise Malformed("png image data is truncated", truncated=True)


# --- WebP (RFC 9649) -------------------------------------------------------

def _webp(data: bytes) -> Probe:
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if riff_size + 8 > len(data):
        raise Malformed("webp is shorter than its RIFF header says", truncated=True)
    i, end = 12, riff_size + 8
    canvas, frames, lossless, animated, alpha = None, 0, False, False, False
    for _ in range(MAX_SEGMENTS):
        if i + 8 > end:
            break
        fourcc, size = struct.unpack_from("<4sI", data, i)
        body_at = i + 8
        if body_at + size > end:
            raise Malformed(f"webp chunk {fourcc!r} runs past the end", truncated=True)
        if fourcc == b"VP8X":
            animated, alpha = bool(data[body_at] & 0x02), bool(data[body_at] & 0x10)
            canvas = (_u24(data, body_at + 4) + 1, _u24(data, body_at + 7) + 1)
        elif fourcc == b"ANMF":
            frames += 1
            lossless |= data[body_at + 16:body_at + 20] == b"VP8L"
        elif fourcc in (b"VP8 ", b"VP8L"):
            frames += 1
            size_here = _vp8_size(data, body_at) if fourcc == b"VP8 " else _vp8l_size(data, body_at)
            lossless |= fourcc == b"VP8L"
            # VP8L's header has its own alpha_is_used bit (bit 28 after the signature)
            alpha |= fourcc == b"VP8L" and bool(struct.unpack_from("<I", data, body_at + 1)[0] >> 28 & 1)
            canvas = canvas or size_here
        i = body_at + size + (size & 1)
    else:
        raise Malformed(f"webp has more than {MAX_SEGMENTS} chunks")
    if canvas is None or frames == 0:
        raise Malformed("webp has no image data")
    if animated and frames == 0:
        raise Malformed("animated webp has no frames")
    return Probe("webp", canvas[0], canvas[1], frames=frames, lossless=lossless, alpha=alpha)


def _u24(data: bytes, at: int) -> int:
    return data[at] | data[at + 1] << 8 | data[at + 2] << 16


def _vp8_size(data: bytes, at: int) -> tuple[int, int]:
    if data[at + 3:at + 6] != b"\x9d\x01\x2a":
        raise Malformed("webp VP8 frame has no start code")
    width, height = struct.unpack_from("<HH", data, at + 6)
    return width & 0x3FFF, height & 0x3FFF


def _vp8l_size(data: bytes, at: int) -> tuple[int, int]:
    if data[at] != 0x2F:
        raise Malformed("webp VP8L has no signature")
    (bits,) = struct.unpack_from("<I", data, at + 1)
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
