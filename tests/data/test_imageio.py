"""Image decoding: colour order, bit depth, alpha, palettes, EXIF orientation, and bad files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from openfer import imageio
from openfer.errors import ImageError
from openfer.imageio import read_image


def _encode(extension: str, image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(extension, image)
    assert ok
    return data.tobytes()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _exif_jpeg(image: np.ndarray, orientation: int) -> bytes:
    """A JPEG with an EXIF APP1 segment holding only the orientation tag (0x0112)."""
    data = _encode(".jpg", image)
    tiff = b"MM\x00\x2a" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + b"\0" * 4
    app1 = b"Exif\x00\x00" + tiff
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + data[2:]


def test_colour_image_is_rgb_and_grey_on_request(tmp_path: Path) -> None:
    bgr = np.zeros((6, 9, 3), np.uint8)
    bgr[..., 2] = 200  # red in OpenCV's BGR order
    path = tmp_path / "red.png"
    path.write_bytes(_encode(".png", bgr))
    rgb = read_image(path, grey=False)
    assert rgb.shape == (6, 9, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [200, 0, 0]
    grey = read_image(path, grey=True)
    assert grey.shape == (6, 9) and grey[0, 0] == round(0.299 * 200)


@pytest.mark.parametrize("extension", [".jpg", ".png", ".bmp", ".tiff", ".webp", ".pgm"])
def test_grey_file_in_every_supported_format(tmp_path: Path, extension: str) -> None:
    image = np.tile(np.arange(0, 240, 20, dtype=np.uint8), (10, 1))
    path = tmp_path / f"face{extension}"
    path.write_bytes(_encode(extension, image))
    grey = read_image(path, grey=True)
    assert grey.shape == (10, 12)
    assert np.abs(grey.astype(int) - image).max() <= 8  # JPEG and lossy WebP are close, the rest exact
    assert read_image(path, grey=False).shape == (10, 12, 3)


def test_sixteen_bit_is_scaled_to_eight(tmp_path: Path) -> None:
    image = np.array([[0, 257, 257 * 128, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    path.write_bytes(_encode(".png", image))
    assert read_image(path, grey=True).tolist() == [[0, 1, 128, 255]]


def test_alpha_is_dropped(tmp_path: Path) -> None:
    bgra = np.zeros((4, 5, 4), np.uint8)
    bgra[..., 0], bgra[..., 3] = 90, 0  # blue, fully transparent
    path = tmp_path / "alpha.png"
    path.write_bytes(_encode(".png", bgra))
    rgb = read_image(path, grey=False)
    assert rgb.shape == (4, 5, 3) and rgb[0, 0].tolist() == [0, 0, 90]


def test_palette_png_is_expanded(tmp_path: Path) -> None:
    width, height = 4, 3
    rows = b"".join(b"\x00" + bytes((x + y) % 2 for x in range(width)) for y in range(height))
    png = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
        + _png_chunk(b"PLTE", bytes([255, 0, 0, 0, 0, 255]))
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )
    path = tmp_path / "palette.png"
    path.write_bytes(png)
    rgb = read_image(path, grey=False)
    assert rgb.shape == (3, 4, 3)
    assert rgb[0, 0].tolist() == [255, 0, 0] and rgb[0, 1].tolist() == [0, 0, 255]


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = np.zeros((20, 40), np.uint8)
    image[:6, :6] = 255  # a white block at the top left
    path = tmp_path / "rotated.jpg"
    path.write_bytes(_exif_jpeg(image, orientation=6))  # 6: display rotated 90 degrees clockwise
    upright = read_image(path, grey=True)
    assert upright.shape == (40, 20)
    rows, cols = np.nonzero(upright > 128)
    assert rows.mean() < 10 and cols.mean() > 10  # the block is now at the top right


def _truncated_png(tmp_path: Path) -> Path:
    data = _encode(".png", np.random.default_rng(0).integers(0, 255, (50, 50), dtype=np.uint8))
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_jpeg(tmp_path: Path) -> Path:
    data = _encode(".jpg", np.random.default_rng(0).integers(0, 255, (50, 50), dtype=np.uint8))
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[:-2])  # only the end-of-image marker is missing
    return path


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda tmp: tmp / "missing.png", "no such image file"),
        (lambda tmp: (tmp / "empty.png", (tmp / "empty.png").write_bytes(b""))[0], "empty file"),
        (lambda tmp: (tmp / "notes.jpg", (tmp / "notes.jpg").write_text("not an image"))[0], "cannot decode"),
        (lambda tmp: (tmp / "folder.png", (tmp / "folder.png").mkdir())[0], "cannot read"),
        (_truncated_png, "cannot decode"),
        (_truncated_jpeg, "truncated"),
    ],
    ids=["missing", "empty", "text", "folder", "truncated-png", "truncated-jpeg"],
)
def test_bad_files_raise_one_line_naming_the_file(tmp_path: Path, make, expected: str) -> None:
    path = make(tmp_path)
    with pytest.raises(ImageError) as caught:
        read_image(path, grey=True)
    message = str(caught.value)
    assert str(path) in message and expected in message and "\n" not in message


def test_huge_image_is_refused_from_its_header(tmp_path: Path) -> None:
    header = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0))
    path = tmp_path / "huge.png"
    path.write_bytes(header)  # no pixel data at all: refused before decoding
    with pytest.raises(ImageError, match="20000 x 20000 pixels is larger than the limit"):
        read_image(path, grey=True)


def test_pixel_limit_applies_after_decoding_formats_without_a_header_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "face.tiff"
    path.write_bytes(_encode(".tiff", np.zeros((10, 12), np.uint8)))
    monkeypatch.setattr(imageio, "MAX_PIXELS", 119)
    with pytest.raises(ImageError, match="12 x 10 pixels"):
        read_image(path, grey=True)
    monkeypatch.setattr(imageio, "MAX_PIXELS", 120)
    assert read_image(path, grey=True).shape == (10, 12)


@pytest.mark.parametrize("extension", [".png", ".jpg", ".bmp", ".webp", ".pgm"])
def test_header_size_is_read_without_decoding(extension: str) -> None:
    data = _encode(extension, np.zeros((10, 12, 3) if extension == ".webp" else (10, 12), np.uint8))
    assert imageio._header_size(data) == (12, 10)


def test_lossless_webp_header() -> None:
    ok, data = cv2.imencode(".webp", np.zeros((10, 12, 3), np.uint8), [cv2.IMWRITE_WEBP_QUALITY, 101])
    assert data.tobytes()[12:16] == b"VP8L" and imageio._header_size(data.tobytes()) == (12, 10)
