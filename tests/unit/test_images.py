"""Uploads are judged by their bytes; only real, modest pictures get a (metadata-free) preview."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from chatin import images

SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.cookie)</script><rect width='10' height='10'/></svg>"
)
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"


def picture(fmt: str, size: tuple[int, int] = (1600, 1000), **save: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, fmt, **save)
    return out.getvalue()


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("GIF", "image/gif"), ("WEBP", "image/webp")],
)
def test_the_four_image_types_are_recognised_and_previewed_within_the_box(
    fmt: str, mime: str
) -> None:
    data = picture(fmt)
    assert images.detect(data) == mime
    assert images.is_image(mime)
    made = images.preview(data)
    assert made is not None
    assert (made.width, made.height) == (800, 500)
    assert images.detect(made.data) == "image/webp"
    assert opened(made.data).size == (800, 500)


def test_a_small_picture_is_not_enlarged() -> None:
    made = images.preview(picture("PNG", (120, 90)))
    assert made is not None
    assert (made.width, made.height) == (120, 90)


def test_html_renamed_png_is_a_plain_file(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(HTML)
    assert not images.is_image(images.detect(HTML))
    assert images.preview(path) is None
    assert images.square(path, 64) is None


def test_svg_with_a_script_is_never_an_image() -> None:
    assert not images.is_image(images.detect(SVG_WITH_SCRIPT))
    assert images.preview(SVG_WITH_SCRIPT) is None


def test_a_truncated_jpeg_gets_no_preview() -> None:
    data = picture("JPEG", (1200, 900), quality=95)
    cut = data[: len(data) // 2]
    assert images.detect(cut) == "image/jpeg"
    assert images.preview(cut) is None
    assert images.square(cut, 256) is None


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge picture: a decompression bomb's shape."""
    real = picture("PNG", (1, 1))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    forged = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return real[:8] + forged + real[8 + len(forged) :]


def test_a_decompression_bomb_is_refused_from_its_header_before_decoding() -> None:
    bomb = png_claiming(50_000, 50_000)
    assert images.detect(bomb) == "image/png"
    started = time.monotonic()
    assert images.preview(bomb) is None
    assert images.square(bomb, 64) is None
    assert time.monotonic() - started < 1


def test_just_over_the_pixel_limit_is_refused_too() -> None:
    assert images.preview(png_claiming(8000, 5001)) is None  # 40,008,000 pixels


def test_exif_orientation_is_applied_and_no_metadata_is_kept() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    exif[0x010F] = "SecretCam"
    data = picture("JPEG", (400, 200), exif=exif.tobytes())
    made = images.preview(data)
    assert made is not None
    assert (made.width, made.height) == (200, 400)
    shown = opened(made.data)
    assert shown.getexif() == {}
    assert "icc_profile" not in shown.info
    assert b"SecretCam" not in made.data


def test_an_animation_becomes_its_first_frame() -> None:
    frames = [Image.new("RGB", (50, 50), colour) for colour in ((0, 0, 255), (255, 0, 0))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    made = images.preview(out.getvalue())
    assert made is not None
    shown = opened(made.data)
    assert getattr(shown, "n_frames", 1) == 1
    red, _green, blue = shown.convert("RGB").getpixel((25, 25))
    assert blue > 200 and red < 50


@pytest.mark.parametrize("size", [256, 64])
def test_square_crops_are_exactly_the_size_asked(size: int) -> None:
    made = images.square(picture("WEBP", (900, 300)), size)
    assert made is not None
    assert (made.width, made.height) == (size, size)
    assert opened(made.data).size == (size, size)


def test_other_files_keep_their_detected_type_or_none() -> None:
    assert images.detect(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj") == "application/pdf"
    assert images.detect(b"just some notes") == images.UNKNOWN_TYPE
    assert images.detect(b"") == images.UNKNOWN_TYPE
    assert not images.is_image("image/svg+xml")


def test_a_picture_on_disk_or_in_an_open_file_gives_the_same_preview(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(picture("JPEG"))
    from_path = images.preview(path)
    with path.open("rb") as handle:
        from_file = images.preview(handle)
    assert from_path is not None and from_file is not None
    assert (from_path.width, from_path.height) == (from_file.width, from_file.height) == (800, 500)
