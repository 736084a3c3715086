"""Exporting the shipped model: the ONNX file gives load_model("fast")'s probabilities, and a failed check
leaves no file behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from openfer.cli import main  # noqa: E402
from openfer.errors import CheckpointError  # noqa: E402
from openfer.export import OnnxExpressionModel, _LogitsOnly, export_onnx  # noqa: E402
from openfer.inference import load_model  # noqa: E402


def real_faces(shared_photos: Path) -> list[np.ndarray]:
    """Face-sized crops of a real photo (the faces of two_people.jpg and two off-face patches)."""
    from openfer.imageio import read_image

    image = read_image(shared_photos / "two_people.jpg", grey=False)
    return [image[20:230, 230:380], image[50:250, 785:940], image[400:600, 0:200], image[300:500, 500:700]]


def test_cli_export_gives_the_probabilities_of_load_model_fast_within_1e_4(tmp_path: Path, shared_photos: Path, capsys) -> None:
    output = tmp_path / "m.onnx"
    assert main(["export", "--output", str(output)]) == 0  # the fast preset, the recogniser's model
    assert "match PyTorch within 1e-04 (tta flip)" in capsys.readouterr().out
    faces = real_faces(shared_photos)
    exported = load_model(output)  # the file carries its TTA
    np.testing.assert_allclose(exported.predict_proba(faces), load_model("fast", precision="fp32").predict_proba(faces), atol=1e-4, rtol=0)
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


@pytest.mark.slow
def test_export_of_the_default_preset_keeps_its_affine_tta(tmp_path: Path, shared_photos: Path) -> None:
    default = load_model("default", precision="fp32")
    path = export_onnx(default, tmp_path / "default.onnx", tolerance=1e-4)
    exported = OnnxExpressionModel(path)
    assert exported.tta == "affine"
    faces = real_faces(shared_photos)
    np.testing.assert_allclose(exported.predict_proba(faces), default.predict_proba(faces), atol=1e-4, rtol=0)


def test_a_graph_that_disagrees_with_pytorch_leaves_no_file(random_model_file: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    forward = _LogitsOnly.forward
    monkeypatch.setattr(_LogitsOnly, "forward", lambda self, x: forward(self, x) * 3.0)  # the graph no longer matches
    output = tmp_path / "out" / "model.onnx"
    with pytest.raises(CheckpointError, match=r"model\.onnx: ONNX probabilities differ from PyTorch .*nothing written"):
        export_onnx(load_model(random_model_file), output, tolerance=1e-4)
    assert not output.exists() and list(output.parent.iterdir()) == []
    assert main(["export", "--output", str(output), "--checkpoint", str(random_model_file)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "differ from PyTorch" in error
    assert list(output.parent.iterdir()) == []


def test_int8_export_of_fast_keeps_its_accuracy_on_fer2013(fer2013_parsed, tmp_path: Path, monkeypatch, capsys) -> None:
    """Calibrated on Training (as documented), the int8 file scores within a point of the float preset on
    1,000 PrivateTest faces (full split: 71.66 % against 71.64 %, docs/benchmarks.md)."""
    monkeypatch.setenv("OPENFER_CACHE", str(fer2013_parsed.cache))  # FER2013 parsed once per run
    output = tmp_path / "fast.int8.onnx"
    assert main(["export", "--int8", "--output", str(output), "--calibration-root", str(fer2013_parsed.root), "--quiet"]) == 0
    assert "top class agrees with float on" in capsys.readouterr().out
    private = fer2013_parsed.data["PrivateTest"]
    faces, labels = private.images[:1000], private.labels[:1000]
    int8_accuracy = (load_model(output).predict_proba(faces).argmax(1) == labels).mean()
    float_accuracy = (load_model("fast").predict_proba(faces).argmax(1) == labels).mean()
    assert abs(int8_accuracy - float_accuracy) <= 0.01 and int8_accuracy > 0.65
