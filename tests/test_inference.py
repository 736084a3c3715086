"""ExpressionModel (TTA views in one pass, batch-size independence, bf16) and load_model, the one resolver."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from openfer.errors import CheckpointError, ConfigError
from openfer.inference import DEFAULT_WEIGHTS, FAST_WEIGHTS, PRECISIONS, load_model, native_bf16, tta_views


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (13, 57, 61), dtype=np.uint8)


@pytest.mark.parametrize("tta", ["none", "flip", "tencrop", "affine"])
def test_probabilities_do_not_depend_on_the_batch_size(faces: np.ndarray, tta: str) -> None:
    reference = load_model(tta=tta, batch_size=256).predict_proba(faces)
    for batch_size in (1, 7, 20):
        np.testing.assert_allclose(load_model(tta=tta, batch_size=batch_size).predict_proba(faces), reference, atol=1e-5)
    assert reference.shape == (13, 7)
    np.testing.assert_allclose(reference.sum(1), 1, atol=1e-5)


def test_flip_averages_the_face_and_its_mirror(faces: np.ndarray) -> None:
    plain = load_model(tta="none")
    expected = (plain.predict_proba(faces) + plain.predict_proba(faces[:, :, ::-1].copy())) / 2
    np.testing.assert_allclose(load_model(tta="flip").predict_proba(faces), expected, atol=1e-5)


def test_affine_tta_averages_its_views(faces: np.ndarray) -> None:
    model = load_model(tta="affine", members=1)
    x = model.preprocess(faces)
    expected = torch.stack([torch.softmax(model.logits(v), 1) for v in tta_views(x, "affine")]).mean(0).numpy()
    np.testing.assert_allclose(model.predict_proba(faces), expected, atol=1e-5)


def test_bf16_stays_close_to_fp32(faces: np.ndarray) -> None:
    fp32 = load_model(precision="fp32")
    bf16 = load_model(precision="bf16")
    assert bf16.bf16 and not fp32.bf16 and "bf16" in repr(bf16)
    a, b = fp32.predict_proba(faces), bf16.predict_proba(faces)
    assert np.abs(a - b).max() < 0.05
    assert (a.argmax(1) == b.argmax(1)).mean() >= 0.8
    assert load_model(precision="auto").bf16 == native_bf16()


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="precision must be one of"):
        load_model(precision="fp8")
    assert PRECISIONS == ("fp32", "bf16", "auto")


def test_load_model_reads_each_file_once(random_model_file: Path, tmp_path: Path, monkeypatch) -> None:
    import safetensors

    from openfer import inference
    from openfer.checkpoints import read_state_dict, save_safetensors

    state, _ = read_state_dict(random_model_file)
    bare = tmp_path / "bare.safetensors"
    save_safetensors(state, bare)  # no metadata: the registered name says what it holds
    reads: list[Path] = []
    opens: list[Path] = []
    real_read, real_open = inference.read_state_dict, safetensors.safe_open
    monkeypatch.setattr(inference, "read_state_dict", lambda path: reads.append(Path(path)) or real_read(path))
    monkeypatch.setattr(safetensors, "safe_open", lambda path, *a, **k: opens.append(Path(path)) or real_open(path, *a, **k))
    cases = [
        ((), DEFAULT_WEIGHTS),
        (("fast",), FAST_WEIGHTS),
        ((random_model_file,), random_model_file),
        (("openfer_vgg", random_model_file), random_model_file),
        (("openfer_vgg", bare), bare),
    ]
    for arguments, file in cases:
        reads.clear()
        opens.clear()
        model = load_model(*arguments)
        assert reads == [file] and opens == [file], arguments
        assert model.weights_file == file


def test_load_model_refuses_what_it_cannot_resolve(random_model_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="checkpoint: not used with the shipped model 'fast'"):
        load_model("fast", random_model_file)
    with pytest.raises(ConfigError, match="'openfer_vgg' is a registered architecture: pass checkpoint=PATH"):
        load_model("openfer_vgg")
    with pytest.raises(CheckpointError, match="holds weights of model 'openfer_vgg', not 'dan'"):
        load_model("dan", random_model_file)
    with pytest.raises(CheckpointError, match="absent.ckpt: no such checkpoint file, and not a registered model name"):
        load_model(tmp_path / "absent.ckpt")
    with pytest.raises(ConfigError, match="expected a preset, a file or a registered model name; got int"):
        load_model(3)


def test_load_model_runs_onnx_files_in_onnxruntime(random_model_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from openfer.export import OnnxExpressionModel, export_onnx

    torch_model = load_model(random_model_file, tta="none")
    path = export_onnx(torch_model, tmp_path / "model.onnx")
    onnx_model = load_model(path, tta="none")
    assert isinstance(onnx_model, OnnxExpressionModel) and onnx_model.tta == "none"
    faces = np.random.default_rng(2).integers(0, 256, (3, 48, 48), dtype=np.uint8)
    np.testing.assert_allclose(onnx_model.predict_proba(faces), torch_model.predict_proba(faces), atol=1e-4)
    with pytest.raises(ConfigError, match="an ONNX model takes only the options tta, batch_size, threads; got members"):
        load_model(path, members=1)


def test_user_errors_are_config_errors_and_still_value_errors() -> None:
    with pytest.raises(ConfigError, match="unknown tta 'twelvecrop'"):
        load_model(tta="twelvecrop")
    model = load_model("fast")
    with pytest.raises(ConfigError, match="unknown tta 'sixcrop'"):
        model.tta = "sixcrop"
    assert model.tta == "flip"
    assert issubclass(ConfigError, ValueError)  # callers that caught the ValueError of old still catch it


def test_lightning_checkpoint_with_tuple_classes_loads(tmp_path):
    """FERModule saves the datamodule's classes as a tuple; such a .ckpt must load (a regression)."""
    import torch

    from openfer.models.registry import create_model

    net = create_model("openfer_vgg", num_classes=7)
    classes = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    metadata = {"model": "openfer_vgg", "num_classes": 7, "classes": classes, "mean": 0.5, "std": 0.25}
    path = tmp_path / "best.ckpt"
    torch.save({"state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}, "hyper_parameters": metadata}, path)
    model = load_model(path)
    assert model.classes == classes


def test_predict_proba_runs_in_the_cpus_native_precision_unless_told(random_model_file: Path) -> None:
    from openfer.inference import native_bf16

    assert load_model(random_model_file).bf16 == native_bf16()  # "auto": bf16 only where the CPU has it
    exact = load_model(random_model_file, tta="none", precision="fp32")
    fast = load_model(random_model_file, tta="none", precision="bf16")
    assert not exact.bf16 and fast.bf16
    faces = np.random.default_rng(5).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    with fast.exact():  # fp32 inside the block, bf16 again after it
        assert not fast.bf16
        np.testing.assert_allclose(fast.predict_proba(faces), exact.predict_proba(faces), atol=1e-6)
    assert fast.bf16
    assert np.abs(fast.predict_proba(faces) - exact.predict_proba(faces)).max() > 0  # bf16 arithmetic really ran
