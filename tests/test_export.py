"""ONNX export and the onnxruntime backend: same probabilities as PyTorch, dynamic batch, cached exports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from openfer.errors import CheckpointError  # noqa: E402
from openfer.export import OnnxExpressionModel, cached_onnx_model, export_onnx  # noqa: E402
from openfer.inference import ExpressionModel, load_model  # noqa: E402


@pytest.fixture(scope="module")
def torch_model(random_model_file: Path) -> ExpressionModel:
    return load_model(random_model_file)


@pytest.fixture(scope="module")
def onnx_file(torch_model: ExpressionModel, tmp_path_factory) -> Path:
    return export_onnx(torch_model, tmp_path_factory.mktemp("onnx") / "model.onnx")


@pytest.mark.parametrize("tta", ["none", "flip"])
def test_onnx_probabilities_equal_torch_within_1e_4(torch_model: ExpressionModel, onnx_file: Path, tta: str) -> None:
    onnx = OnnxExpressionModel(onnx_file, tta=tta)
    torch_model = ExpressionModel(torch_model.net, torch_model.classes, tta=tta)
    rng = np.random.default_rng(0)
    for batch in (1, 7):  # the batch axis is dynamic
        faces = [rng.integers(0, 256, (40 + i, 52, 3), dtype=np.uint8) for i in range(batch)]
        expected = torch_model.predict_proba(faces)
        assert onnx.predict_proba(faces).shape == (batch, 7)
        np.testing.assert_allclose(onnx.predict_proba(faces), expected, atol=1e-4, rtol=0)


def test_onnx_file_carries_classes_and_preprocessing(torch_model: ExpressionModel, onnx_file: Path) -> None:
    onnx = OnnxExpressionModel(onnx_file)
    assert onnx.classes == torch_model.classes
    assert (onnx.image_size, onnx.channels, onnx.mean, onnx.std) == (48, 1, 0.5, 0.25)
    assert onnx.predict(np.zeros((2, 48, 48), np.uint8)) == torch_model.predict(np.zeros((2, 48, 48), np.uint8))


def test_cached_export_is_made_once_per_weights_file(torch_model, random_model_file: Path, onnx_file: Path, tmp_path: Path, monkeypatch) -> None:
    def copy_export(model, path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(onnx_file.read_bytes())

    monkeypatch.setenv("OPENFER_CACHE", str(tmp_path))
    monkeypatch.setattr("openfer.export.export_onnx", copy_export)
    first = cached_onnx_model(torch_model, random_model_file)
    (cached,) = (tmp_path / "onnx").glob("*.onnx")
    assert first.path == cached and "openfer_vgg" in cached.name
    monkeypatch.setattr("openfer.export.export_onnx", lambda model, path: pytest.fail("exported twice"))
    assert cached_onnx_model(torch_model, random_model_file).path == cached
    changed = tmp_path / "changed.safetensors"
    changed.write_bytes(random_model_file.read_bytes() + b" ")
    monkeypatch.setattr("openfer.export.export_onnx", copy_export)
    assert cached_onnx_model(torch_model, changed).path != cached


def test_unreadable_or_foreign_onnx_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such ONNX file"):
        OnnxExpressionModel(tmp_path / "absent.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    with pytest.raises(CheckpointError, match="not a readable ONNX model"):
        OnnxExpressionModel(tmp_path / "junk.onnx")
