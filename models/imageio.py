"""Image decoding guard: every image that enters facegate passes through :func:`decode_image`.

It bounds the bytes and the pixel count *before* decoding (decompression bombs), accepts a short
list of formats, applies the EXIF orientation and turns any mode into 8-bit RGB. Each failure is
its own exception class with a stable ``code`` that the service maps to an HTTP problem.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeAlias

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow's name for each accepted container. PGM/PPM/PBM are all read by the "PPM" plugin.
# "MPO" is a JPEG holding several pictures (many cameras write one); its first picture is used.
ALLOWED_FORMATS: Final[tuple[str, ...]] = ("JPEG", "MPO", "PNG", "WEBP", "BMP", "PPM")

ImageInput: TypeAlias = bytes | bytearray | memoryview | str | os.PathLike[str] | Image.Image | np.ndarray


@dataclass(frozen=True)
class ImageLimits:
    """Upper bounds enforced before any pixel is decoded."""

    max_bytes: int = 15 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_side: int = 12_000


class ImageError(ValueError):
    """Base class of every decoding failure. ``code`` is stable and machine readable."""

    code: str = "image_invalid"


class EmptyImageError(ImageError):
    code = "image_empty"


class NotAnImageError(ImageError):
    code = "image_not_an_image"


class UnsupportedFormatError(ImageError):
    code = "image_unsupported_format"


class ImageTooLargeError(ImageError):
    code = "image_too_large"


class TruncatedImageError(ImageError):
    code = "image_truncated"


def decode_image(source: ImageInput, limits: ImageLimits | None = None) -> np.ndarray:
    """Decode ``source`` into an RGB ``uint8`` array of shape ``(H, W, 3)``.

    ``source`` may be encoded bytes, a file path, a PIL image or an array (``(H, W)``,
    ``(H, W, 1|3|4)``, uint8 or uint16). Arrays and PIL images skip the byte limit but not the
    pixel limit.
    """
    limits = limits or ImageLimits()
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source, limits)
    if isinstance(source, Image.Image):
        _check_dimensions(source.width, source.height, limits)
        return _pil_to_rgb(source)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise NotAnImageError(f"no such file: {path}") from exc
        if size > limits.max_bytes:
            raise ImageTooLargeError(f"{path} is {size} bytes; the limit is {limits.max_bytes}")
        try:
            data = path.read_bytes()
        except OSError as exc:  # a directory, no permission, an I/O error
            raise NotAnImageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    elif isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    else:
        raise NotAnImageError(f"cannot decode an object of type {type(source).__name__}")
    return _decode_bytes(data, limits)


def _decode_bytes(data: bytes, limits: ImageLimits) -> np.ndarray:
    if not data:
        raise EmptyImageError("the image is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(f"the image is {len(data)} bytes; the limit is {limits.max_bytes}")
    try:
        # Only the header is read here; pixels are decoded by load() below, after the size check.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise NotAnImageError("the data is not an image in any known format") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(str(exc)) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise NotAnImageError(f"the image header cannot be read: {exc}") from exc
    if image.format not in ALLOWED_FORMATS:
        raise UnsupportedFormatError(f"format {image.format} is not accepted; use one of JPEG, PNG, WebP, BMP, PGM/PPM")
    _check_dimensions(image.width, image.height, limits)
    try:
        # Pillow's default (ImageFile.LOAD_TRUNCATED_IMAGES False) raises on a truncated file
        # instead of filling it with grey: a partial face must be refused.
        image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(str(exc)) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise TruncatedImageError(f"the {image.format} data is truncated or corrupt: {exc}") from exc
    return _pil_to_rgb(image)


def _check_dimensions(width: int, height: int, limits: ImageLimits) -> None:
    if width <= 0 or height <= 0:
        raise NotAnImageError(f"the image has no pixels ({width}x{height})")
    if width > limits.max_side or height > limits.max_side or width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"the image is {width}x{height} pixels; the limits are {limits.max_side} per side "
            f"and {limits.max_pixels} in all"
        )


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    image = ImageOps.exif_transpose(image)
    mode = image.mode
    if mode == "RGB":
        return np.asarray(image, dtype=np.uint8).copy()
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grey: keep the top 8 bits instead of clipping at 255.
        # Pillow gives 16-bit PNG as "I;16" and 16-bit PGM as "I": both hold 0..65535.
        grey = np.asarray(image, dtype=np.int64)
        grey8 = np.clip(grey >> 8, 0, 255).astype(np.uint8)
        return np.repeat(grey8[:, :, None], 3, axis=2)
    if mode == "F":
        grey8 = np.clip(np.asarray(image, dtype=np.float32), 0, 255).astype(np.uint8)
        return np.repeat(grey8[:, :, None], 3, axis=2)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        # Transparent areas become white, as a viewer would show them on a page.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def _array_to_rgb(array: np.ndarray, limits: ImageLimits) -> np.ndarray:
    source_array = array  # never hand the caller's own buffer back
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 3, 4):
        raise NotAnImageError(f"an image array must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got {array.shape}")
    _check_dimensions(array.shape[1], array.shape[0], limits)
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise NotAnImageError(f"an image array must be uint8 or uint16; got {array.dtype}")
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.shape[2] == 4:
        alpha = array[:, :, 3:4].astype(np.float32) / 255.0
        array = (array[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return array.copy() if array is source_array else np.ascontiguousarray(array)
