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
