"""Checking uploaded images before they reach the queue.

Only PNG, JPEG and WebP are accepted, recognised by their first bytes (never by a file
name or a declared content type). The pixel count is read from the header and checked
before anything is decoded, so a small file that claims 20000 x 20000 pixels (a
decompression bomb) costs nothing. Then the whole image is decoded once, which catches
truncated and corrupt files at upload time rather than in the worker.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

from ..errors import InputError
from ..photo import check_image

DEFAULT_MAX_PIXELS = 40_000_000
"""Largest accepted image in pixels (40 MP: more than any phone photo)."""


class ImageRejected(ValueError):
    """An upload that is not an acceptable image; the message says why in one sentence.

    Attributes:
        status: the HTTP status the service answers with (415 wrong format, 413 too many
            pixels, 422 unreadable or too small).
    """

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def sniff_format(data: bytes) -> str:
    """The image format from the file's first bytes: 'PNG', 'JPEG' or 'WEBP'.

    Raises:
        ImageRejected: the bytes start like none of them.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    raise ImageRejected("the file is not a PNG, JPEG or WebP image (checked by its content)", 415)


def open_image(
    data: bytes,
    name: str = "image",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    check_only: bool = False,
) -> Image.Image:
    """Decode an uploaded image after checking its format and size (``max_pixels`` and
    the pipeline's rules in :func:`humancrafter.photo.check_image`).

    Args:
        data: the file's bytes.
        name: how to call the image in error messages (e.g. "image 2").
        max_pixels: the largest width * height accepted.
        check_only: decode the pixels (which finds truncated and corrupt files) but skip
            the rotation and the colour conversion (each a full copy); the upload check.

    Returns:
        The decoded image, EXIF orientation applied, in mode "RGB", or "RGBA" when the
        file has transparency (a cut-out the pipeline can use as a mask).

    Raises:
        ImageRejected: with one sentence naming the problem.
    """
    try:
        fmt = sniff_format(data)
    except ImageRejected as e:
        raise ImageRejected(f"{name}: {e}", 415) from None
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=[fmt])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageRejected(
                f"{name}: the {fmt} image has more than {max_pixels:,} pixels", 413
            ) from None
        except (OSError, SyntaxError, ValueError):
            raise ImageRejected(
                f"{name}: the {fmt} file cannot be decoded (a corrupt header or no pixels)"
            ) from None
    w, h = img.size
    if w * h > max_pixels:
        raise ImageRejected(
            f"{name}: the image is {w}x{h} pixels, more than the limit of {max_pixels:,} pixels",
            413,
        )
    try:
        check_image(img)  # the pipeline's own size rules, before decoding
    except InputError as e:
        raise ImageRejected(f"{name}: {e}") from None
    try:
        img.load()
        if check_only:
            return img
        img = ImageOps.exif_transpose(img)
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageRejected(f"{name}: the {fmt} file is truncated or corrupt ({e})") from None
    has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    return img.convert("RGBA" if has_alpha else "RGB")
