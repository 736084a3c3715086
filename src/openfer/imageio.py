"""Images: the one place openfer turns files or bytes into pixels and back, and converts channels and sizes.

Files (or bytes already in memory) are decoded by OpenCV with ``IMREAD_ANYDEPTH | IMREAD_ANYCOLOR``, which keeps
16-bit and grey images as they are, drops alpha, expands palettes and applies the EXIF orientation.
16-bit images are scaled to 8 bits. Every failure raises :class:`~openfer.errors.ImageError` with one
line naming the file (or the name given for the bytes). :func:`write_image` encodes by the file's suffix
and writes atomically; :func:`to_channels`, :func:`resize` and :func:`to_model_input_size` are the pixel
helpers that the readers, the engine and the recogniser share.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import cv2
import numpy as np

from openfer.errors import ImageError
from openfer.files import write_bytes

#: File extensions (lower case) that the dataset readers treat as images.
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm")
#: Images with more pixels than this are refused (checked from the header where the format allows).
MAX_PIXELS = 100_000_000

_DECODE_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
_PNM_HEADER = re.compile(rb"P[1-6](?:\s|#[^\n]*\n)+(\d+)(?:\s|#[^\n]*\n)+(\d+)")


def is_image_file(path: str | Path) -> bool:
    """Whether the file name has one of :data:`IMAGE_EXTENSIONS`."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def read_image(path: str | Path, grey: bool) -> np.ndarray:
    """Decode an image file to uint8: H x W when ``grey``, else H x W x 3 RGB."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such image file") from None
    except OSError as error:
        raise ImageError(f"{path}: cannot read ({error.strerror or error})") from None
    return decode_image(data, grey, name=str(path))


def decode_image(data: bytes, grey: bool, name: str = "image") -> np.ndarray:
    """Decode the bytes of an image file (as :func:`read_image` does); errors name the image ``name``."""
    if not data:
        raise ImageError(f"{name}: empty file (0 bytes)")
    size = _header_size(data)
    if size is not None:
        _check_pixels(name, *size)
    if data[:2] == b"\xff\xd8" and not _jpeg_complete(data):
        raise ImageError(f"{name}: truncated or corrupt JPEG (no end-of-image marker after the scan)")
    image = _decode(data)
    if image is None:
        raise ImageError(f"{name}: not an image or corrupt/truncated (cannot decode)")
    _check_pixels(name, image.shape[1], image.shape[0])
    if image.dtype == np.uint16:
        image = np.round(image / 257.0).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError(f"{name}: unsupported pixel type {image.dtype} (expected 8 or 16 bits)")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return to_channels(image, 1 if grey else 3)


def encode_image(image_rgb: np.ndarray, suffix: str, name: str = "image") -> bytes:
    """The bytes of an RGB (or grey) uint8 image in the format of ``suffix`` (``.png``, ``.jpg``, ...)."""
    bgr = image_rgb if image_rgb.ndim == 2 else cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    try:
        ok, encoded = cv2.imencode(suffix or ".png", bgr)
    except cv2.error:
        ok = False
    if not ok:
        raise ImageError(f"{name}: cannot encode an image with suffix {suffix!r} (use .jpg or .png)")
    return encoded.tobytes()


def write_image(path: str | Path, image_rgb: np.ndarray) -> Path:
    """Encode an RGB (or grey) uint8 image by ``path``'s suffix and write it atomically; returns the path."""
    path = Path(path)
    return write_bytes(path, encode_image(image_rgb, path.suffix, name=str(path)))


def to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """Grey (H, W) or RGB (H, W, 3) uint8 -> (H, W) for ``channels=1`` or (H, W, 3) for ``channels=3``."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if channels == 1:
        return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image


def resize(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize to ``size`` (int: square; tuple: (height, width)); area interpolation when shrinking."""
    h, w = (size, size) if isinstance(size, int) else size
    if image.shape[:2] == (h, w):
        return image
    shrink = h < image.shape[0] or w < image.shape[1]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def to_model_input_size(image: np.ndarray, size: int, channels: int) -> np.ndarray:
    """A uint8 image as a C x size x size array for the network."""
    image = resize(to_channels(image, channels), size)
    return image[None] if image.ndim == 2 else image.transpose(2, 0, 1)


def _decode(data: bytes) -> np.ndarray | None:
    """OpenCV's decoder with its own log lines silenced: failures are reported as ImageError instead."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), _DECODE_FLAGS)
    except cv2.error:
        return None
    finally:
        cv2.utils.logging.setLogLevel(level)


def _check_pixels(name: str, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{name}: image of {width} x {height} pixels is larger than the limit of {MAX_PIXELS:,} pixels"
        )


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of a PNG, JPEG, BMP, WebP or PNM file; None for other formats."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data[:2] == b"\xff\xd8":
            return _jpeg_layout(data)[0]
        if data[:2] == b"BM" and struct.unpack("<I", data[14:18])[0] >= 40:
            width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
        match = _PNM_HEADER.match(data[:512])
        if match:
            return int(match.group(1)), int(match.group(2))
    except struct.error:
        return None
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _jpeg_layout(data: bytes) -> tuple[tuple[int, int] | None, int | None]:
    """Walk the JPEG marker segments: ((width, height) from the frame header, offset of the first scan)."""
    size = None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return size, None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xDA:  # start of scan: the entropy-coded data follows
            return size, i
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            size = (width, height)
        i += 2 + length
    return size, None


def _jpeg_complete(data: bytes) -> bool:
    """A JPEG is complete when an end-of-image marker follows its first scan (older OpenCV decodes cut files)."""
    scan = _jpeg_layout(data)[1]
    return scan is not None and data.find(b"\xff\xd9", scan) != -1
