"""Demo inputs the project may redistribute: scikit-image's cat (BSD), in the
three accepted formats and with an EXIF rotation, plus one file that lies."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

LIAR = "not-a-photo.jpg"


def demo_photos(folder: Path, extra: Path | None = None) -> tuple[list[Path], set[str]]:
    """Write the demo photos into `folder`; returns them and the names expected to be rejected."""
    from skimage import data

    folder.mkdir(parents=True, exist_ok=True)
    cat = Image.fromarray(data.chelsea())
    cat.save(folder / "chelsea.jpg", quality=92)
    cat.save(folder / "chelsea.png")
    cat.save(folder / "chelsea.webp", quality=90)
    # Stored sideways with EXIF orientation 6, as phones do: shown upright.
    exif = Image.Exif()
    exif[0x0112] = 6
    cat.transpose(Image.Transpose.ROTATE_90).save(folder / "chelsea-phone.jpg", exif=exif, quality=92)
    (folder / LIAR).write_text("a text file renamed to .jpg\n")
    files = sorted(folder.iterdir())
    if extra:
        files += sorted(p for p in extra.iterdir() if p.is_file())
    return files, {LIAR}
