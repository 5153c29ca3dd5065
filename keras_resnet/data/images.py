"""Decode image files to uint8 RGB arrays, safely.

One place decodes every image the package reads (image-folder datasets, their
archives, and the files given to ``predict``), so all of them get the same
rules:

- a size limit against decompression bombs, ``MAX_IMAGE_PIXELS``, checked from
  the header before any pixel is decoded;
- 16-bit images (``I;16`` grayscale PNG/TIFF, 48/64-bit RGB(A) PNG) scaled to
  8 bits by ``255 / 65535`` with rounding, instead of being clipped to white;
- grayscale, palette and RGBA images converted to RGB;
- every failure a ``DataError`` (a ``ValueError``) naming the file.

Pillow is imported lazily, inside the functions.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import warnings

import numpy as np

from keras_resnet.errors import DataError

# 8192 x 8192 (67,108,864 pixels, 201 MB as uint8 RGB): far above any
# classification input, and below Pillow's own warning threshold (89,478,485),
# so this check always speaks first.
MAX_IMAGE_PIXELS = 8192 * 8192

# Pillow modes whose pixels are 16-bit (or 32-bit integer) grayscale.
_WIDE_GRAY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as a uint8 ``(height, width, 3)`` RGB array.

    Args:
        path: An image file Pillow can read (PNG, JPEG, BMP, GIF, WebP, TIFF).

    Returns:
        The pixels, uint8 RGB; 16-bit images are scaled to 8 bits.

    Raises:
        keras_resnet.errors.DataError: (a ``ValueError``) If the file is
            missing, not a decodable image, or larger than
            ``MAX_IMAGE_PIXELS``; the message names the file.

    Example:
        >>> image = read_image("cat.png")  # doctest: +SKIP
        >>> image.dtype, image.shape[-1]
        (dtype('uint8'), 3)
    """
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise DataError(
            f"cannot read image {os.fspath(path)}: {error.strerror or error}"
        ) from None
    with bomb_warnings_as_errors():
        return decode_image(os.fspath(path), data)


@contextlib.contextmanager
def bomb_warnings_as_errors():
    """Turn Pillow's ``DecompressionBombWarning`` into an exception meanwhile.

    Enter it once in the calling thread around all the decoding (worker
    threads included): ``warnings.catch_warnings`` is not thread-safe when
    entered from several threads at once.
    """
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def decode_image(name: str, data: bytes) -> np.ndarray:
    """Decode one encoded image to uint8 RGB ``(height, width, 3)``.

    Args:
        name: The file (or archive member) name, for messages.
        data: The encoded bytes.

    Raises:
        keras_resnet.errors.DataError: If the bytes are not a decodable image
            or the image has more than ``MAX_IMAGE_PIXELS`` pixels.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            _check_size(name, *image.size)
            return to_rgb8(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        # Pillow refused before the size check: its message has the pixel count.
        found = re.search(r"\((\d+) pixels\)", str(error))
        raise DataError(_too_large(name, int(found[1]) if found else None)) from None
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, DataError):
            raise
        raise DataError(f"cannot decode image {name}: {error}") from None


def to_rgb8(image) -> np.ndarray:
    """A Pillow image as uint8 RGB, scaling 16-bit grayscale to 8 bits."""
    if image.mode in _WIDE_GRAY_MODES:
        wide = np.asarray(image).astype(np.int64)
        # Round(v * 255 / 65535): the high byte, rounded, not a clip at 255.
        gray = ((np.clip(wide, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode != "RGB":
        # Palette images with a transparent index go through RGBA first.
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def _check_size(name: str, width: int, height: int) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError(_too_large(name, width * height, f"{width}x{height}, "))


def _too_large(name: str, pixels: int | None, dims: str = "") -> str:
    detail = f" ({dims}{pixels:,} pixels)" if pixels else ""
    return (
        f"image {name}{detail} is larger than the {MAX_IMAGE_PIXELS:,}-pixel "
        "limit against decompression bombs "
        "(keras_resnet.data.images.MAX_IMAGE_PIXELS); resize it first"
    )
