"""``openfer export``: a checked ONNX file, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")

from openfer.cli import main  # noqa: E402
from openfer.export import OnnxExpressionModel  # noqa: E402


def test_cli_export_writes_a_checked_onnx_file(random_model_file: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "out" / "model.onnx"
    assert main(["export", "--output", str(output), "--checkpoint", str(random_model_file)]) == 0
    assert "probabilities match PyTorch within 1e-04" in capsys.readouterr().out
    assert OnnxExpressionModel(output).classes[3] == "happy"
    assert [p.name for p in output.parent.iterdir()] == ["model.onnx"]


def test_cli_export_of_a_missing_checkpoint_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["export", "--output", str(tmp_path / "m.onnx"), "--checkpoint", str(tmp_path / "absent.ckpt")]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_cli_int8_export_calibrates_on_the_training_split(tiny_fer2013: Path, tmp_path: Path, capsys) -> None:
    output = tmp_path / "fast.int8.onnx"
    command = ["export", "--int8", "--output", str(output), "--calibration-root", str(tiny_fer2013), "--calibration-faces", "40", "--check-faces", "24"]
    command += ["--min-agreement", "0.9"]  # noise faces: the shipped model's top class is less clear-cut than on faces
    assert main(command + ["--quiet"]) == 0
    out = capsys.readouterr().out
    assert "(int8, " in out and "calibrated on 40 faces of fer2013 Training (seed 0)" in out and "of 24 other faces" in out
    quantization = OnnxExpressionModel(output).quantization
    assert quantization["calibration_faces"] == 40 and quantization["agreement"] >= 0.9
    assert [p.name for p in tmp_path.iterdir()] == ["fast.int8.onnx"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--int8"], "--int8: give --calibration-root"),
        (["--calibration-root", "x"], "--calibration-root: only used with --int8"),
        (["--int8", "--calibration-root", "ROOT", "--min-agreement", "97"], "--min-agreement must be between 0 and 1"),
        (["--int8", "--calibration-root", "ROOT", "--calibration-split", "PrivateTest2"], "--calibration-split: dataset 'fer2013' has splits"),
    ],
)
def test_cli_int8_errors_are_one_line(arguments: list[str], message: str, tiny_fer2013: Path, tmp_path: Path, capsys) -> None:
    arguments = [str(tiny_fer2013) if a == "ROOT" else a for a in arguments]
    assert main(["export", "--output", str(tmp_path / "m.onnx"), *arguments]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and message in error
    assert list(tmp_path.iterdir()) == []
