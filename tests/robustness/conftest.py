"""Real bad files, written by the tests: FIFOs, decompression bombs, corrupt videos, hostile checkpoints."""

from __future__ import annotations

import os
import signal
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest


@pytest.fixture
def deadline():
    """Fails the test (instead of hanging the suite) if it runs past 60 s: a FIFO read blocks forever."""

    def expire(signum, frame):
        raise TimeoutError("blocked for 60 s: a read that should have been refused waited instead")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def face_photo(shared_photos: Path | None = None) -> np.ndarray:
    """A small BGR image with texture (a real photo where the shared folder is present)."""
    if shared_photos is not None and (shared_photos / "obama_240p.jpg").is_file():
        return cv2.imread(str(shared_photos / "obama_240p.jpg"))
    return np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)


def tiff_bomb(path: Path, width: int = 60_000, height: int = 60_000) -> Path:
    """A valid little TIFF whose first directory declares ``width`` x ``height`` pixels (3.6 gigapixels)."""
    assert cv2.imwrite(str(path), np.zeros((64, 64), np.uint8))
    data = bytearray(path.read_bytes())
    order = "<" if data[:2] == b"II" else ">"
    offset = struct.unpack(order + "I", data[4:8])[0]
    (count,) = struct.unpack(order + "H", data[offset : offset + 2])
    for entry in range(count):
        start = offset + 2 + 12 * entry
        tag, kind = struct.unpack(order + "HH", data[start : start + 4])
        if tag in (256, 257):
            value = width if tag == 256 else height
            struct.pack_into(order + "HHI", data, start + 2, 4, 1, value)  # LONG, one value
            struct.pack_into(order + "I", data, start + 8, value)
    path.write_bytes(bytes(data))
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path
