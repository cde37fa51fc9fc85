"""``models.imageio.decode_image``: every bad input gives its own typed error; every accepted mode gives RGB uint8."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.imageio import (
    EmptyImageError,
    ImageError,
    ImageLimits,
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
    UnsupportedFormatError,
    decode_image,
)


def _encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width``×``height`` RGB, followed by a tiny IDAT and IEND: no real pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit, colour type 2 (RGB)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + _png_chunk(b"IEND", b"")
    )


def _assert_rgb_uint8(array: np.ndarray, shape: tuple[int, int]) -> None:
    assert isinstance(array, np.ndarray)
    assert array.dtype == np.uint8
    assert array.shape == (*shape, 3)


@pytest.fixture(scope="module")
def jpeg_bytes(fixture_face_paths: list[Path]) -> bytes:
    return fixture_face_paths[0].read_bytes()


# --- bad input: each failure has its own class and code ------------------------------------------


def _expect(error: type[ImageError], code: str, source: object, limits: ImageLimits | None = None) -> ImageError:
    with pytest.raises(ImageError) as info:
        decode_image(source, limits)  # type: ignore[arg-type]
    assert type(info.value) is error, f"expected {error.__name__}, got {type(info.value).__name__}: {info.value}"
    assert info.value.code == code
    assert str(info.value), "the error must carry a message"
    return info.value


def test_error_codes_are_distinct() -> None:
    classes = [EmptyImageError, NotAnImageError, UnsupportedFormatError, ImageTooLargeError, TruncatedImageError]
    assert len({c.code for c in classes}) == len(classes)
    assert all(issubclass(c, ImageError) and issubclass(c, ValueError) for c in classes)


@pytest.mark.parametrize("empty", [b"", bytearray(), memoryview(b"")])
def test_empty_bytes(empty: bytes) -> None:
    _expect(EmptyImageError, "image_empty", empty)


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes(seed: int) -> None:
    _expect(NotAnImageError, "image_not_an_image", np.random.default_rng(seed).bytes(2000))


def test_text_is_not_an_image() -> None:
    _expect(NotAnImageError, "image_not_an_image", b"<html><body>not a photo</body></html>")


def test_truncated_jpeg(jpeg_bytes: bytes) -> None:
    error = _expect(TruncatedImageError, "image_truncated", jpeg_bytes[: len(jpeg_bytes) // 2])
    assert "JPEG" in str(error)


@pytest.mark.parametrize("fraction", [0.3, 0.75, 0.97])
def test_jpegs_cut_anywhere_in_the_scan_are_truncated(fixture_face_paths: list[Path], fraction: float) -> None:
    # A partial face must be refused, not filled with grey.
    for path in fixture_face_paths:
        data = path.read_bytes()
        _expect(TruncatedImageError, "image_truncated", data[: int(len(data) * fraction)])


def test_png_header_claiming_20000_square_is_refused_without_decoding() -> None:
    data = _png_header_only(20_000, 20_000)
    tracemalloc.start()
    try:
        _expect(ImageTooLargeError, "image_too_large", data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 20000×20000 RGB would be 1.2 GB; only the header may be read.
    assert peak < 20 * 1024 * 1024, f"decoding a bogus header allocated {peak / 1e6:.1f} MB"


def test_png_over_our_pixel_limit_but_under_pillows_is_refused() -> None:
    # 10000×5000 = 50 Mpx: below Pillow's own bomb warning (89 Mpx), above ImageLimits.max_pixels (40 Mpx).
    error = _expect(ImageTooLargeError, "image_too_large", _png_header_only(10_000, 5_000))
    assert "10000x5000" in str(error)


def test_png_over_max_side_is_refused() -> None:
    _expect(ImageTooLargeError, "image_too_large", _png_header_only(12_001, 10))


def test_custom_pixel_limit(jpeg_bytes: bytes) -> None:
    _expect(ImageTooLargeError, "image_too_large", jpeg_bytes, ImageLimits(max_pixels=250 * 250 - 1))
    assert decode_image(jpeg_bytes, ImageLimits(max_pixels=250 * 250)).shape == (250, 250, 3)


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "ICO", "TGA"])
def test_unsupported_formats(fmt: str) -> None:
    data = _encode(Image.new("RGB", (16, 16), (10, 200, 30)), fmt)
    error = _expect(UnsupportedFormatError, "image_unsupported_format", data)
    assert fmt in str(error)


def test_over_max_bytes_as_bytes(jpeg_bytes: bytes) -> None:
    _expect(ImageTooLargeError, "image_too_large", jpeg_bytes, ImageLimits(max_bytes=len(jpeg_bytes) - 1))
    assert decode_image(jpeg_bytes, ImageLimits(max_bytes=len(jpeg_bytes))).shape == (250, 250, 3)


def test_over_max_bytes_as_path(fixture_face_paths: list[Path]) -> None:
    path = fixture_face_paths[0]
    _expect(ImageTooLargeError, "image_too_large", path, ImageLimits(max_bytes=path.stat().st_size - 1))


def test_nonexistent_path(tmp_path: Path) -> None:
    error = _expect(NotAnImageError, "image_not_an_image", tmp_path / "missing.jpg")
    assert "missing.jpg" in str(error)
    _expect(NotAnImageError, "image_not_an_image", str(tmp_path / "missing.jpg"))


def test_directory_path_is_not_an_image(tmp_path: Path) -> None:
    # A path that exists but is not a file must still give a typed error, never IsADirectoryError.
    _expect(NotAnImageError, "image_not_an_image", tmp_path)


def test_unknown_source_type() -> None:
    _expect(NotAnImageError, "image_not_an_image", 12345)
    _expect(NotAnImageError, "image_not_an_image", [[0, 0, 0]])


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((8, 8, 2), np.uint8),
        np.zeros((8, 8, 5), np.uint8),
        np.zeros((2, 8, 8, 3), np.uint8),
        np.zeros((8,), np.uint8),
        np.zeros((0, 8, 3), np.uint8),
        np.zeros((8, 8, 3), np.float32),
        np.zeros((8, 8, 3), np.int16),
        np.zeros((8, 8), np.int64),
        np.zeros((8, 8, 3), bool),
    ],
    ids=["2ch", "5ch", "4d", "1d", "empty", "float32", "int16", "int64-2d", "bool"],
)
def test_bad_arrays(array: np.ndarray) -> None:
    _expect(NotAnImageError, "image_not_an_image", array)


def test_array_over_pixel_limit() -> None:
    _expect(ImageTooLargeError, "image_too_large", np.zeros((20, 20, 3), np.uint8), ImageLimits(max_pixels=399))


def test_pil_image_over_pixel_limit() -> None:
    _expect(ImageTooLargeError, "image_too_large", Image.new("RGB", (20, 20)), ImageLimits(max_pixels=399))


# --- accepted modes: all come back RGB uint8 (H, W, 3) ----------------------------------------------


def test_real_jpeg(jpeg_bytes: bytes, fixture_face_paths: list[Path]) -> None:
    from_bytes = decode_image(jpeg_bytes)
    _assert_rgb_uint8(from_bytes, (250, 250))
    assert from_bytes.std() > 20, "a real photo is not flat"
    np.testing.assert_array_equal(decode_image(fixture_face_paths[0]), from_bytes)
    np.testing.assert_array_equal(decode_image(str(fixture_face_paths[0])), from_bytes)
    np.testing.assert_array_equal(decode_image(bytearray(jpeg_bytes)), from_bytes)
    np.testing.assert_array_equal(decode_image(memoryview(jpeg_bytes)), from_bytes)


def test_cmyk_jpeg() -> None:
    data = _encode(Image.new("CMYK", (16, 8), (0, 255, 255, 0)), "JPEG", quality=100)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    out = decode_image(data)
    _assert_rgb_uint8(out, (8, 16))
    np.testing.assert_allclose(out.reshape(-1, 3).mean(axis=0), [255, 0, 0], atol=3)


def test_16bit_grey_png_keeps_the_top_byte() -> None:
    values = np.array([[0, 255, 256, 32768, 65535]], dtype=np.uint16)
    data = _encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    out = decode_image(data)
    _assert_rgb_uint8(out, (1, 5))
    np.testing.assert_array_equal(out[0, :, 0], [0, 0, 1, 128, 255])
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_dark_16bit_grey_png_stays_dark() -> None:
    # Scaling must not depend on the content: 200/65535 of full scale is black in 8 bits.
    data = _encode(Image.fromarray(np.array([[0, 100, 200]], dtype=np.uint16)), "PNG")
    np.testing.assert_array_equal(decode_image(data)[0, :, 0], [0, 0, 0])


def test_16bit_pgm_scales_like_16bit_png() -> None:
    header = b"P5\n4 1\n65535\n"
    bright = header + np.array([0, 256, 32768, 65535], dtype=">u2").tobytes()
    np.testing.assert_array_equal(decode_image(bright)[0, :, 0], [0, 1, 128, 255])


def test_dark_16bit_pgm_stays_dark() -> None:
    # Pillow opens 16-bit PGM as mode "I". A 16-bit value of 200 is 200/65535 of full scale and must map
    # to 0, as it does for a 16-bit PNG, whatever the other pixels hold.
    dark = b"P5\n3 1\n65535\n" + np.array([0, 100, 200], dtype=">u2").tobytes()
    np.testing.assert_array_equal(decode_image(dark)[0, :, 0], [0, 0, 0])


def test_rgba_png_transparent_becomes_white() -> None:
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[0, 0] = (0, 0, 0, 0)  # fully transparent black
    rgba[0, 1] = (200, 10, 10, 255)  # opaque red
    rgba[0, 2] = (0, 0, 0, 128)  # half-transparent black
    out = decode_image(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    _assert_rgb_uint8(out, (1, 3))
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(out[0, 1], [200, 10, 10])
    np.testing.assert_allclose(out[0, 2], [127, 127, 127], atol=1)


def test_la_png() -> None:
    la = Image.new("LA", (2, 1))
    la.putpixel((0, 0), (10, 0))
    la.putpixel((1, 0), (10, 255))
    out = decode_image(_encode(la, "PNG"))
    _assert_rgb_uint8(out, (1, 2))
    np.testing.assert_array_equal(out[0], [[255, 255, 255], [10, 10, 10]])


def test_palette_png_with_transparency() -> None:
    p = Image.new("P", (2, 1))
    p.putpalette([0, 0, 0, 255, 0, 0] + [0] * (256 * 3 - 6))
    p.putpixel((0, 0), 0)
    p.putpixel((1, 0), 1)
    data = _encode(p, "PNG", transparency=0)
    assert Image.open(io.BytesIO(data)).mode == "P"
    out = decode_image(data)
    _assert_rgb_uint8(out, (1, 2))
    np.testing.assert_array_equal(out[0], [[255, 255, 255], [255, 0, 0]])


def test_grey_png() -> None:
    grey = np.array([[0, 77, 255]], np.uint8)
    out = decode_image(_encode(Image.fromarray(grey, "L"), "PNG"))
    _assert_rgb_uint8(out, (1, 3))
    np.testing.assert_array_equal(out[0], np.repeat(grey.T, 3, axis=1))


def test_att_pgm(fixture_pgm_path: Path) -> None:
    out = decode_image(fixture_pgm_path)
    _assert_rgb_uint8(out, (112, 92))
    np.testing.assert_array_equal(out[..., 0], np.asarray(Image.open(fixture_pgm_path)))
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


@pytest.mark.parametrize("fmt", ["BMP", "WEBP", "PNG", "PPM"])
def test_lossless_rgb_formats_round_trip(fmt: str) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    params = {"lossless": True} if fmt == "WEBP" else {}
    out = decode_image(_encode(Image.fromarray(rgb), fmt, **params))
    _assert_rgb_uint8(out, (9, 13))
    np.testing.assert_array_equal(out, rgb)


def test_multi_picture_jpeg_is_accepted() -> None:
    # Many cameras and phones write MPO (a JPEG followed by more JPEG frames in the APP2 "MPF" segment) under
    # a .jpg name; Pillow reports its format as "MPO". The first frame is an ordinary JPEG photo.
    first = Image.new("RGB", (32, 24), (255, 0, 0))
    data = _encode(first, "MPO", save_all=True, append_images=[Image.new("RGB", (32, 24), (0, 0, 255))])
    assert data[:2] == b"\xff\xd8", "an MPO file starts as a JPEG"
    out = decode_image(data)
    _assert_rgb_uint8(out, (24, 32))
    np.testing.assert_allclose(out.reshape(-1, 3).mean(axis=0), [255, 0, 0], atol=3)


def test_exif_orientation_is_applied() -> None:
    stored = Image.new("RGB", (40, 20), (255, 255, 255))
    stored.paste((255, 0, 0), (0, 0, 8, 8))  # a red mark in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation 6: rotate 90° clockwise to display
    data = _encode(stored, "JPEG", exif=exif.tobytes(), quality=95)
    out = decode_image(data)
    _assert_rgb_uint8(out, (40, 20))
    # Rotating clockwise moves the stored top-left corner to the displayed top-right.
    assert out[3, 17, 0] > 200 and out[3, 17, 1] < 60, out[3, 17]
    assert out[3, 2].min() > 200, out[3, 2]
    # A PIL image carrying the same EXIF is turned the same way.
    np.testing.assert_array_equal(decode_image(Image.open(io.BytesIO(data))), out)


# --- arrays and PIL images as input --------------------------------------------------------------


def test_uint8_rgb_array_passes_through() -> None:
    rgb = np.random.default_rng(2).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    out = decode_image(rgb)
    _assert_rgb_uint8(out, (5, 7))
    np.testing.assert_array_equal(out, rgb)


def test_non_contiguous_array() -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (6, 10, 3), dtype=np.uint8)
    out = decode_image(rgb[:, ::2])
    assert out.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(out, rgb[:, ::2])


def test_uint16_array_keeps_the_top_byte() -> None:
    out = decode_image(np.array([[0, 255, 256, 32768, 65535]], np.uint16))
    _assert_rgb_uint8(out, (1, 5))
    np.testing.assert_array_equal(out[0, :, 0], [0, 0, 1, 128, 255])


@pytest.mark.parametrize("shape", [(4, 6), (4, 6, 1)])
def test_grey_arrays(shape: tuple[int, ...]) -> None:
    grey = np.arange(24, dtype=np.uint8).reshape(shape) * 10
    out = decode_image(grey)
    _assert_rgb_uint8(out, (4, 6))
    for channel in range(3):
        np.testing.assert_array_equal(out[..., channel], grey.reshape(4, 6))


def test_rgba_array_composites_on_white() -> None:
    rgba = np.array([[[0, 0, 0, 0], [200, 10, 10, 255], [0, 0, 0, 128]]], np.uint8)
    out = decode_image(rgba)
    _assert_rgb_uint8(out, (1, 3))
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(out[0, 1], [200, 10, 10])
    np.testing.assert_allclose(out[0, 2], [127, 127, 127], atol=1)


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "CMYK", "1"])
def test_pil_images(mode: str) -> None:
    rgb = Image.fromarray(np.random.default_rng(4).integers(0, 256, (6, 8, 3), dtype=np.uint8))
    image = rgb.convert(mode)
    out = decode_image(image)
    _assert_rgb_uint8(out, (6, 8))
    if mode in ("RGB", "RGBA"):  # RGBA from convert() is opaque
        np.testing.assert_array_equal(out, np.asarray(rgb))
