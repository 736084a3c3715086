"""Fixtures for the recogniser tests: a loaded random model, a stand-in model and detector, EXIF-rotated JPEGs."""

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
