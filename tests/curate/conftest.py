"""Fixtures of the curation tests: a fake face detector and source-tree hashing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from openfer.faces import Detection, FaceDetector


class BrightFaceDetector(FaceDetector):
    """Finds one face (the central half of the image, eyes as 5-point landmarks) when the image's mean
    is at least 100, none otherwise; ``eyes`` are (x, y) fractions of the image size."""

    name = "bright-test"

    def __init__(self, eyes=((0.3, 0.4), (0.7, 0.4))) -> None:
        super().__init__()
        self.eyes = eyes

    def _detect(self, image_rgb: np.ndarray) -> list[Detection]:
        if image_rgb.mean() < 100:
            return []
        height, width = image_rgb.shape[:2]
        points = np.full((5, 2), np.nan)
        points[:2] = [(x * width, y * height) for x, y in self.eyes]
        return [Detection((width // 4, height // 4, width // 2, height // 2), 1.0, points)]


@pytest.fixture
def bright_detector() -> BrightFaceDetector:
    return BrightFaceDetector()


def _tree_digest(root: Path) -> dict[str, tuple[str, int]]:
    root = Path(root)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    base = root.parent if root.is_file() else root
    return {str(p.relative_to(base)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in files}


@pytest.fixture
def tree_digest():
    """``tree_digest(root)``: ``{relative path: (sha256, mtime_ns)}`` of every file under ``root`` (or of the file)."""
    return _tree_digest


@pytest.fixture
def bright_fer2013(tmp_path) -> Path:
    """``fer2013.csv``: 21 Training rows (3 per class; row 3k+2 dark, so no face) and 7 PublicTest rows, all bright."""
    rng = np.random.default_rng(1)
    lines = ["emotion,pixels,Usage"]
    for usage, count in (("Training", 21), ("PublicTest", 7)):
        for i in range(count):
            dark = usage == "Training" and i % 3 == 2
            pixels = rng.integers(0, 40, 48 * 48) if dark else rng.integers(150, 256, 48 * 48)
            lines.append(f"{i % 7},{' '.join(map(str, pixels))},{usage}")
    path = tmp_path / "source" / "fer2013.csv"
    path.parent.mkdir()
    path.write_text("\n".join(lines) + "\n")
    return path
