"""Fixtures for the dataset tests: an isolated cache, the shared FER2013 (parsed once: tests/conftest.py), tiny image writers."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import cv2
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def isolated_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every test writes parsed datasets to its own cache folder, never the user's."""
    folder = tmp_path / "openfer-cache"
    monkeypatch.setenv("OPENFER_CACHE", str(folder))
    return folder


@pytest.fixture
def fer2013_shared(fer2013_parsed: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """The shared FER2013 (``root``, ``data``), parsed once per session into a cache this test uses too."""
    monkeypatch.setenv("OPENFER_CACHE", str(fer2013_parsed.cache))
    return fer2013_parsed


@pytest.fixture
def write_image() -> Callable[..., Path]:
    """``write_image(path, size=(8, 8), value=0, colour=False)``: a small image file, folders created."""

    def write(path: Path, size: tuple[int, int] = (8, 8), value: int = 0, colour: bool = False) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        shape = size + (3,) if colour else size
        image = np.full(shape, value, dtype=np.uint8)
        image[0, 0] = 255 - value  # not constant, so every format keeps a mark
        if not cv2.imwrite(str(path), image):
            raise OSError(f"cannot write {path}")
        return path

    return write
