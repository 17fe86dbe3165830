import io

import pytest
from PIL import Image

from domain.uploads import Rejected, check_request, inspect, sniff
from settings import Settings

MB = 1024 * 1024
LIMIT, PIXELS = 30 * MB, 64_000_000
BUDGET = Settings().intake_decode_budget  # the deployed one (1 GiB intake)


def encoded(fmt: str, size=(64, 48), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "orange").save(out, fmt)
    return out.getvalue()


def reason(data: bytes, declared: str) -> str:
    with pytest.raises(Rejected) as caught:
        inspect(data, declared, LIMIT, BUDGET)
    return caught.value.reason


@pytest.mark.parametrize("fmt,declared", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")])
def test_real_images_pass(fmt, declared):
    info = inspect(encoded(fmt), declared, LIMIT, BUDGET)
    assert (info.width, info.height) == (64, 48)


def test_each_bad_upload_has_its_own_reason():
    jpeg = encoded("JPEG", (640, 480))
    reasons = {
        "text renamed": reason(b"hello, I am a text file\n" * 10, "image/jpeg"),
        "truncated jpeg": reason(jpeg[: len(jpeg) // 2], "image/jpeg"),
        "empty": reason(b"", "image/jpeg"),
        "31 MB": reason(b"\xff\xd8\xff" + b"\0" * (31 * MB), "image/jpeg"),
        "png declared jpeg": reason(encoded("PNG"), "image/jpeg"),
    }
    assert reasons == {
        "text renamed": "not_an_image", "truncated jpeg": "truncated_image", "empty": "empty_file",
        "31 MB": "too_large", "png declared jpeg": "type_mismatch",
    }


def test_decompression_bomb_is_refused_before_decoding():
    bomb = encoded("PNG", (20000, 20000), mode="1")  # ~50 KB on disk, 400 MP decoded
    assert len(bomb) < 1 * MB
    assert reason(bomb, "image/png") == "too_many_pixels"


def test_a_48_megapixel_phone_photo_passes():
    photo = encoded("JPEG", (8000, 6000))
    assert inspect(photo, "image/jpeg", LIMIT, BUDGET).width == 8000


def test_corrupt_png_body():
    png = bytearray(encoded("PNG", (200, 200)))
    png[60:80] = b"\0" * 20  # break the IDAT data, keep the signature, header and length: a bad CRC, not a cut file
    assert reason(bytes(png), "image/png") == "corrupt_image"


def test_sniff_ignores_names_and_reads_bytes():
    assert sniff(encoded("WEBP")[:16]) == "webp"
    assert sniff(b"GIF89a....") is None


@pytest.mark.parametrize("content_type,size,expected", [
    ("image/gif", 10, "unsupported_type"), ("text/plain", 10, "unsupported_type"),
    ("image/jpeg", 0, "empty_file"), ("image/png", 31 * MB, "too_large"),
])
def test_request_checks(content_type, size, expected):
    with pytest.raises(Rejected) as caught:
        check_request(content_type, size, LIMIT)
    assert caught.value.reason == expected


def test_request_at_the_limit_passes():
    check_request("image/webp", LIMIT, LIMIT)
