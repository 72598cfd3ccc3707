"""The safe image toolbox: what a file really is, and small WebP copies of pictures.

Uploads are untrusted bytes. The type comes from the bytes (`filetype`), never from a name or
a browser's header, and only JPEG, PNG, GIF and WebP count as images. Pillow opens them with
only those four decoders, and a picture claiming more than `MAX_PIXELS` in its header is
refused before a single pixel is decoded, so a decompression bomb costs nothing. Output is
WebP without EXIF, ICC or XMP, so a location in a photo's metadata never leaves the server.

Every function here is blocking CPU work: callers run it with `asyncio.to_thread`. A corrupt
picture or a bomb gives None, so the caller keeps the upload as a plain file.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from typing import BinaryIO

import filetype
from PIL import (
    GifImagePlugin,
    Image,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    WebPImagePlugin,
)

# Pillow's format names for the only types ever treated (and served inline) as images.
IMAGE_TYPES = {
    "image/jpeg": JpegImagePlugin.JpegImageFile.format,
    "image/png": PngImagePlugin.PngImageFile.format,
    "image/gif": GifImagePlugin.GifImageFile.format,
    "image/webp": WebPImagePlugin.WebPImageFile.format,
}
UNKNOWN_TYPE = "application/octet-stream"
HEAD_BYTES = 8192  # what `filetype` reads at most to recognise a file
MAX_PIXELS = 40_000_000
PREVIEW_BOX = 800
WEBP_QUALITY = 80

Source = str | PathLike[str] | BinaryIO | bytes
_Shape = Callable[[Image.Image], Image.Image]


@dataclass(frozen=True)
class Picture:
    """A WebP made from an upload, with the size an `<img>` needs so the page does not jump."""

    data: bytes
    width: int
    height: int


def detect(head: bytes) -> str:
    """The MIME type the bytes themselves show (the first `HEAD_BYTES` are enough)."""
    kind = filetype.guess(head[:HEAD_BYTES])
    return kind.mime if kind is not None else UNKNOWN_TYPE


def is_image(mime: str) -> bool:
    return mime in IMAGE_TYPES


def preview(source: Source, box: int = PREVIEW_BOX) -> Picture | None:
    """The picture fitted into `box` by `box` (never enlarged), or None if it isn't a safe image."""

    def fit(image: Image.Image) -> Image.Image:
        image.thumbnail((box, box), Image.Resampling.LANCZOS)
        return image

    return _convert(source, (box, box), fit)


def square(source: Source, size: int) -> Picture | None:
    """A centred `size` by `size` crop (for avatars), or None if it isn't a safe image."""

    def crop(image: Image.Image) -> Image.Image:
        return ImageOps.fit(image, (size, size), Image.Resampling.LANCZOS)

    return _convert(source, (size, size), crop)


def _convert(source: Source, draft: tuple[int, int], shape: _Shape) -> Picture | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = _open(source)
            if image is None:
                return None
            with image:
                image.draft("RGB", draft)  # JPEG decodes at a fraction of its size: much faster
                frame = _first_frame(image)
                ImageOps.exif_transpose(frame, in_place=True)
                return _webp(shape(frame))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError):
        # Pillow reports truncated, corrupt and lying files with these; all mean "no preview".
        return None


def _open(source: Source) -> Image.Image | None:
    """Open from the header only, refusing non-images and anything over `MAX_PIXELS`."""
    opened: str | PathLike[str] | BinaryIO = (
        io.BytesIO(source) if isinstance(source, bytes) else source
    )
    if isinstance(opened, (str, PathLike)):
        with open(opened, "rb") as peek:  # Pillow opens (and closes) the path itself
            head = peek.read(HEAD_BYTES)
    else:
        start = opened.tell()
        head = opened.read(HEAD_BYTES)
        opened.seek(start)
    mime = detect(head)
    if not is_image(mime):
        return None
    image = Image.open(opened, formats=[IMAGE_TYPES[mime]])
    if image.width * image.height > MAX_PIXELS:
        image.close()
        return None
    return image


def _first_frame(image: Image.Image) -> Image.Image:
    """Frame 0 as plain RGB(A): animations and palettes become one still picture."""
    image.seek(0)
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _webp(image: Image.Image) -> Picture:
    """Encode with no metadata at all (Pillow writes EXIF/ICC/XMP only when given them)."""
    out = io.BytesIO()
    image.save(out, "WEBP", quality=WEBP_QUALITY, method=4)
    return Picture(out.getvalue(), image.width, image.height)
