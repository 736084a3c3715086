"""ONNX export and the onnxruntime backend: same probabilities as PyTorch, dynamic batch, cached exports; int8
quantisation with its report and check."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from openfer.errors import CheckpointError  # noqa: E402
from openfer.export import OnnxExpressionModel, cached_onnx_model, draw_calibration_faces, export_onnx, quantize_onnx  # noqa: E402
from openfer.inference import ExpressionModel, load_model  # noqa: E402


@pytest.fixture(scope="module")
def torch_model(random_model_file: Path) -> ExpressionModel:
    return load_model(random_model_file, precision="fp32")  # the exact reference the float graph matches


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


def _faces(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 48, 48), dtype=np.uint8)


def test_int8_graph_holds_int8_weights_and_stores_its_report(torch_model: ExpressionModel, tmp_path: Path) -> None:
    import onnx

    output = tmp_path / "model.int8.onnx"
    report = quantize_onnx(torch_model, output, _faces(48), check=_faces(32, seed=1), source="random faces", min_agreement=0.0)
    graph = onnx.load(output)
    ops = {node.op_type for node in graph.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    int8_weights = [t for t in graph.graph.initializer if t.data_type == onnx.TensorProto.INT8 and len(t.dims) == 4]
    assert len(int8_weights) >= 8  # every convolution's kernel is stored as int8
    loaded = OnnxExpressionModel(output)
    assert loaded.quantization == asdict(report) and "int8" in loaded.name
    assert (report.calibration_faces, report.check_faces, report.calibration) == (48, 32, "random faces")
    check = _faces(32, seed=1)
    float_probabilities = torch_model.predict_proba(check)
    int8_probabilities = loaded.predict_proba(check)
    assert report.agreement == pytest.approx(float((float_probabilities.argmax(1) == int8_probabilities.argmax(1)).mean()))
    assert report.max_probability_difference == pytest.approx(float(np.abs(float_probabilities - int8_probabilities).max()), abs=1e-5)
    assert output.stat().st_size < 0.4 * export_onnx(torch_model, tmp_path / "float.onnx").stat().st_size


def test_int8_graph_that_disagrees_leaves_no_file(torch_model: ExpressionModel, tmp_path: Path) -> None:
    output = tmp_path / "out" / "model.int8.onnx"
    with pytest.raises(CheckpointError, match=r"model\.int8\.onnx: the int8 graph agrees .* nothing written"):
        quantize_onnx(torch_model, output, _faces(16), min_agreement=1.01)
    assert not output.parent.exists() or list(output.parent.iterdir()) == []
    with pytest.raises(CheckpointError, match="calibration method"):
        quantize_onnx(torch_model, output, _faces(16), method="kmeans")


def test_foreign_metadata_in_an_onnx_file_is_ignored(onnx_file: Path, tmp_path: Path) -> None:
    import onnx

    graph = onnx.load(onnx_file)
    graph.metadata_props.add(key="producer_note", value="not JSON {")
    onnx.save(graph, tmp_path / "noted.onnx")
    assert OnnxExpressionModel(tmp_path / "noted.onnx").classes == OnnxExpressionModel(onnx_file).classes
    graph.metadata_props.add(key="classes", value="[broken")
    onnx.save(graph, tmp_path / "broken.onnx")
    with pytest.raises(CheckpointError, match="broken.onnx: its openfer metadata is not JSON"):
        OnnxExpressionModel(tmp_path / "broken.onnx")


def test_calibration_and_check_faces_are_disjoint_seeded_draws(tiny_fer2013: Path) -> None:
    from openfer.data import load_dataset

    training = load_dataset("fer2013", tiny_fer2013)["Training"]
    calibration, check = draw_calibration_faces(training, calibration=40, check=30, seed=3)
    assert (len(calibration), len(check)) == (40, 24)  # 64 faces: the check gets what is left
    again, _ = draw_calibration_faces(training, calibration=40, check=30, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(calibration, again))
    rows = {face.tobytes() for face in calibration}
    assert not rows & {face.tobytes() for face in check}
