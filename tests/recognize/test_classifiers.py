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
