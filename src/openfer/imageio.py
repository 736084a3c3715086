"""Images: the one place openfer turns files or bytes into pixels and back, and converts channels and sizes.

Files (or bytes already in memory) are decoded by OpenCV with ``IMREAD_ANYDEPTH | IMREAD_ANYCOLOR``, which keeps
16-bit and grey images as they are, drops alpha, expands palettes and applies the EXIF orientation.
16-bit images are scaled to 8 bits. Every failure raises :class:`~openfer.errors.ImageError` with one
line naming the file (or the name given for the bytes). :func:`write_image` encodes by the file's suffix
and writes atomically; :func:`to_channels`, :func:`resize` and :func:`to_model_input_size` are the pixel
helpers that the readers, the engine and the recogniser share.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import struct
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from openfer.errors import ImageError, display_path
from openfer.files import write_bytes

#: File extensions (lower case) that the dataset readers treat as images.
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm")
#: Images with more pixels than this are refused, from the header before decoding (PNG, JPEG, TIFF, BMP,
#: WebP, GIF, PNM) and again after decoding for any other format.
MAX_PIXELS = 100_000_000
#: Image files larger than this are refused before they are read.
MAX_FILE_BYTES = 256 * 1024 * 1024

_DECODE_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
_PNM_HEADER = re.compile(rb"P[1-6](?:\s|#[^\n]*\n)+(\d+)(?:\s|#[^\n]*\n)+(\d+)")


def is_image_file(path: str | Path) -> bool:
    """Whether the file name has one of :data:`IMAGE_EXTENSIONS`."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def read_image(path: str | Path, grey: bool) -> np.ndarray:
    """Decode an image file to uint8: H x W when ``grey``, else H x W x 3 RGB."""
    path = Path(path)
    return decode_image(read_file_bytes(path, what="image file"), grey, name=str(path))


def check_regular_file(path: str | Path, max_bytes: int | None = MAX_FILE_BYTES, what: str = "file") -> int:
    """The size of ``path`` in bytes; :class:`ImageError` unless it is a regular file of at most ``max_bytes``.

    A FIFO or a device (``/dev/zero``) is refused from its type, without opening it (opening a FIFO
    blocks until something writes to it)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ImageError(f"{display_path(path)}: no such {what}") from None
    except OSError as error:
        raise ImageError(f"{display_path(path)}: cannot read ({error.strerror or error})") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device or socket"
        raise ImageError(f"{display_path(path)}: not a regular file ({kind}); only regular files are read")
    if max_bytes is not None and info.st_size > max_bytes:
        raise ImageError(f"{display_path(path)}: {info.st_size:,} bytes is larger than the limit of {max_bytes:,} bytes")
    return info.st_size


def read_file_bytes(path: str | Path, max_bytes: int = MAX_FILE_BYTES, what: str = "file") -> bytes:
    """The bytes of the regular file ``path`` (see :func:`check_regular_file`), at most ``max_bytes``."""
    check_regular_file(path, max_bytes, what)
    try:
        # O_NONBLOCK: should the file have been swapped for a FIFO since the check, opening does not block.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise ImageError(f"{display_path(path)}: not a regular file; only regular files are read")
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise ImageError(f"{display_path(path)}: cannot read ({error.strerror or error})") from None
    if len(data) > max_bytes:
        raise ImageError(f"{display_path(path)}: larger than the limit of {max_bytes:,} bytes")
    return data


def decode_image(data: bytes, grey: bool, name: str = "image") -> np.ndarray:
    """Decode the bytes of an image file (as :func:`read_image` does); errors name the image ``name``."""
    name = display_path(name)
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
        with _codec_warnings_held():
            return cv2.imdecode(np.frombuffer(data, np.uint8), _DECODE_FLAGS)
    except cv2.error:
        return None
    finally:
        cv2.utils.logging.setLogLevel(level)


#: Lines that the codecs inside OpenCV print to stderr themselves (``libpng warning: iCCP: ...``,
#: libtiff's ``TIFFReadDirectory: Warning, ...``), which no OpenCV setting turns off.
_CODEC_NOISE = (b"libpng warning:", b"libpng error:", b"TIFFReadDirectory", b"TIFFFetchNormalTag", b"Corrupt JPEG data", b"Premature end of JPEG")
_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _codec_warnings_held() -> Iterator[None]:
    """While decoding, file descriptor 2 goes to a temporary file; afterwards every line in it that is not a
    codec's own warning is written back to stderr (so other threads' messages are delayed, never lost)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable stderr (a service without one): nothing to hold
        yield
        return
    with _STDERR_LOCK, tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [line for line in held.read().splitlines(keepends=True) if not line.startswith(_CODEC_NOISE)]
            if kept:
                os.write(2, b"".join(kept))


def _check_pixels(name: str, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{name}: image of {width} x {height} pixels is larger than the limit of {MAX_PIXELS:,} pixels"
        )


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of a PNG, JPEG, TIFF, BMP, WebP, GIF or PNM file; None for other formats."""
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
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff_size(data)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        match = _PNM_HEADER.match(data[:512])
        if match:
            return int(match.group(1)), int(match.group(2))
    except struct.error:
        return None
    return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """ImageWidth (tag 256) and ImageLength (tag 257) of a TIFF's first directory, the one OpenCV decodes."""
    order = "<" if data[:2] == b"II" else ">"
    offset = struct.unpack(order + "I", data[4:8])[0]
    (count,) = struct.unpack(order + "H", data[offset : offset + 2])
    values: dict[int, int] = {}
    for entry in range(count):
        start = offset + 2 + 12 * entry
        tag, kind = struct.unpack(order + "HH", data[start : start + 4])
        if tag in (256, 257):
            # SHORT (3) or LONG (4), one value, stored in the entry's value field
            values[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), data[start + 8 : start + (10 if kind == 3 else 12)])[0]
    if 256 in values and 257 in values:
        return values[256], values[257]
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
