"""Bad option values through the CLI and the Python API: one line naming the option, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from openfer.cli import main
from openfer.errors import ConfigError
from openfer.faces import Detection, FaceDetector
from openfer.recognize import Recognizer


class CentreFace(FaceDetector):
    name = "centre"

    def _detect(self, image_rgb: np.ndarray) -> list[Detection]:
        height, width = image_rgb.shape[:2]
        return [Detection((width // 4, height // 4, width // 2, height // 2), 0.9)]


class FlatModel:
    classes = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

    def predict_proba(self, faces) -> np.ndarray:
        return np.full((len(faces), 7), 1 / 7, np.float32)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    return path


def one_error_line(capsys, *words: str) -> str:
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("openfer: error: "), err
    assert all(word in lines[0] for word in words), lines[0]
    assert "Traceback" not in out + err
    return lines[0]


def predict(photo: Path, model: Path, *args: str) -> int:
    return main(["predict", str(photo), "--model", str(model), "--backend", "torch", "--detector", "haar", *args])


def test_a_huge_margin_is_refused_before_anything_loads(photo: Path, capsys) -> None:
    assert main(["predict", str(photo), "--margin", "1e9"]) == 2
    one_error_line(capsys, "margin", "1e+09")
    with pytest.raises(ConfigError, match="margin"):
        Recognizer(FlatModel(), CentreFace(), margin=-0.5)


def test_output_naming_a_folder_is_refused(photo: Path, random_model_file: Path, tmp_path: Path, capsys) -> None:
    assert predict(photo, random_model_file, "--output", str(tmp_path)) == 2
    one_error_line(capsys, str(tmp_path), "is a folder")
    with pytest.raises(ConfigError, match="is a folder"):
        Recognizer(FlatModel(), CentreFace()).run([photo], output=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]  # no temporary file left


def test_output_in_a_missing_folder_creates_it(photo: Path, random_model_file: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "new" / "deeper" / "faces.csv"
    assert predict(photo, random_model_file, "--output", str(output)) == 0
    assert output.read_text().startswith("source,frame,time,track,x,y,w,h,detector_score,label,label_probability,")


def test_output_below_a_file_is_refused(photo: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        Recognizer(FlatModel(), CentreFace()).run([photo], output=photo / "faces.csv")


def test_save_annotated_naming_an_existing_file_is_refused(photo: Path, random_model_file: Path, tmp_path: Path, capsys) -> None:
    existing = tmp_path / "existing.png"
    existing.write_bytes(b"keep me")
    assert predict(photo, random_model_file, "--save-annotated", str(existing)) == 2
    one_error_line(capsys, "save_dir", "is a file")
    for option in ("save_dir", "summary_dir"):
        with pytest.raises(ConfigError, match=option):
            Recognizer(FlatModel(), CentreFace()).run([photo], **{option: existing})
    assert existing.read_bytes() == b"keep me"


@pytest.mark.parametrize(
    ("option", "words"),
    [
        (["--port", "99999"], ("port", "65535", "99999")),
        (["--port", "-1"], ("port",)),
        (["--max-concurrency", "0"], ("max_concurrency", ">= 1")),
        (["--max-queue", "-2"], ("max_queue", ">= 0")),
        (["--max-upload-mb", "-1"], ("max_upload_bytes", ">= 1")),
    ],
)
def test_serve_options_out_of_range_are_refused_before_the_model_loads(option: list[str], words: tuple[str, ...], capsys) -> None:
    assert main(["serve", "--model", "/no/such/model.safetensors", *option]) == 2  # the model is never looked at
    one_error_line(capsys, *words)


def test_create_app_refuses_limits_out_of_range() -> None:
    from openfer.serve import create_app

    for limits in ({"max_concurrency": 0}, {"max_queue": -1}, {"max_upload_bytes": 0}):
        with pytest.raises(ConfigError, match=next(iter(limits))):
            create_app(Recognizer(FlatModel(), CentreFace()), **limits)
