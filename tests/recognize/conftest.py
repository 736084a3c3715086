"""Fixtures for the recogniser tests: a random model, a stand-in detector, and files of every bad kind."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from openfer.faces import Detection, FaceDetector
from openfer.inference import ExpressionModel, load_model


class CentreDetector(FaceDetector):
    """Reports one face: the central square of half the image's shorter side (none on a black image)."""

    name = "centre"

    def _detect(self, image_rgb: np.ndarray) -> list[Detection]:
        if image_rgb.max() == 0:
            return []
        height, width = image_rgb.shape[:2]
        side = min(height, width) // 2
        return [Detection(((width - side) // 2, (height - side) // 2, side, side), 0.9)]


class BrightnessModel:
    """A cheap stand-in classifier: probabilities from each crop's mean brightness (same contract as ExpressionModel)."""

    classes = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

    def __init__(self, shift: float = 0.0) -> None:
        self.shift = shift

    def predict_proba(self, faces) -> np.ndarray:
        means = np.array([np.asarray(face, np.float64).mean() / 255 for face in faces]).reshape(-1, 1)
        logits = np.sin(means * np.arange(1, 8) * 3 + self.shift)
        exp = np.exp(logits)
        return (exp / exp.sum(1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="session")
def model(random_model_file: Path) -> ExpressionModel:
    return load_model(random_model_file)


@pytest.fixture
def fake_model() -> BrightnessModel:
    return BrightnessModel()


@pytest.fixture
def detector() -> CentreDetector:
    return CentreDetector()


@pytest.fixture
def write_oriented_jpeg():
    """``write(path, image_rgb, orientation)``: a JPEG whose EXIF orientation tag says how to turn its pixels."""
    return _write_oriented_jpeg


def _write_oriented_jpeg(path: Path, image_rgb: np.ndarray, orientation: int) -> None:
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    payload = b"Exif\x00\x00" + tiff
    data = encoded.tobytes()
    path.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:])


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """A folder (with a subfolder) of good images and every kind of bad or odd file."""
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    face = rng.integers(40, 255, (64, 80, 3), dtype=np.uint8)
    cv2.imwrite(str(folder / "good.jpg"), face)
    cv2.imwrite(str(folder / "sub" / "grey.png"), face[:, :, 0])
    cv2.imwrite(str(folder / "rgba.png"), np.dstack([face, np.full(face.shape[:2], 128, np.uint8)]))
    cv2.imwrite(str(folder / "deep16.png"), face.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "black.png"), np.zeros((40, 40, 3), np.uint8))  # readable, no face
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.png").write_text("not an image at all\n")
    good = (folder / "good.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    # A PNG header that declares 30000 x 30000 pixels: refused before any pixel is decoded.
    (folder / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 30000, 30000) + b"\x08\x02\x00\x00\x00" + b"\x00" * 64)
    (folder / "broken.mp4").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    (folder / "notes.txt").write_text("a file that is neither an image nor a video\n")
    return folder

