"""Keras HDF5 weights: a real Keras MobileNet file (tests/fixtures/keras) converts to our MobileNet exactly."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from openfer.errors import CheckpointError
from openfer.keras_weights import read_keras_h5
from openfer.models import create_model
from openfer.models.backbones.mobilenet import MobileNetV1, load_keras_layout_weights

FIXTURES = Path(__file__).parent / "fixtures" / "keras"
KERAS_FILE = FIXTURES / "mobilenet_conv_pw_2.h5"


def keras_output_of(model: MobileNetV1) -> tuple[np.ndarray, np.ndarray]:
    """Our model's output on the fixture's input (NHWC like Keras) and Keras's own output."""
    io = np.load(FIXTURES / "mobilenet_conv_pw_2_io.npz")
    with torch.no_grad():
        ours = model.eval()(torch.from_numpy(io["x"]).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).numpy()
    return ours, io["y"]


def as_keras2_file(source: Path, target: Path) -> Path:
    """A copy in Keras 2's naming: depthwise kernels called ``depthwise_kernel:0``, every variable suffixed ``:0``."""
    shutil.copy(source, target)
    with h5py.File(target, "r+") as handle:
        for layer in handle.attrs["layer_names"]:
            group = handle[layer]
            renamed = []
            for name in group.attrs["weight_names"]:
                owner, variable = name.split("/")
                if layer.startswith("conv_dw_") and variable == "kernel":
                    variable = "depthwise_kernel"
                new = f"{owner}/{variable}:0"
                group.move(name, new)
                renamed.append(new)
            group.attrs["weight_names"] = renamed
    return target


def test_keras_mobilenet_converts_to_the_same_outputs() -> None:
    model = MobileNetV1(num_classes=0, last_layer="conv_pw_2")
    assert load_keras_layout_weights(model, KERAS_FILE) == []
    ours, theirs = keras_output_of(model)
    assert ours.shape == theirs.shape == (1, 8, 8, 128)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_keras2_naming_of_depthwise_kernels_converts_the_same(tmp_path: Path) -> None:
    keras2 = as_keras2_file(KERAS_FILE, tmp_path / "keras2.h5")
    a, b = read_keras_h5(KERAS_FILE, depthwise_layers={"conv_dw_1", "conv_dw_2"}), read_keras_h5(keras2)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    model = MobileNetV1(num_classes=0, last_layer="conv_pw_2")
    load_keras_layout_weights(model, keras2)
    ours, theirs = keras_output_of(model)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_a_shorter_model_loads_the_prefix_and_reports_the_rest() -> None:
    model = MobileNetV1(num_classes=0, last_layer="conv_pw_1")
    report = load_keras_layout_weights(model, KERAS_FILE)
    assert report and all(line.startswith("beyond conv_pw_1, not loaded: conv_") for line in report)
    assert any("conv_pw_2.weight" in line for line in report)


def test_a_longer_model_is_refused_with_the_missing_layers() -> None:
    model = MobileNetV1(num_classes=0, last_layer="conv_dw_3")
    with pytest.raises(CheckpointError, match=r"mobilenet_conv_pw_2.h5: does not match the model .*missing: conv_dw_3.weight"):
        load_keras_layout_weights(model, KERAS_FILE)


def test_pattlite_takes_keras_backbone_weights_up_to_its_cut() -> None:
    """PAtt-Lite cuts MobileNet at conv_dw_9, past this fixture: the loader must say what is missing."""
    with pytest.raises(CheckpointError, match=r"mobilenet_conv_pw_2.h5: does not match the model \(65 problems: missing: conv_dw_3.weight"):
        create_model("pattlite", num_classes=7, backbone_weights=str(KERAS_FILE))


def test_bad_files_give_one_line_naming_them(tmp_path: Path) -> None:
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    with pytest.raises(CheckpointError, match="notes.h5: not a readable HDF5 file"):
        read_keras_h5(text)
    with pytest.raises(CheckpointError, match="missing.h5: no such weights file"):
        read_keras_h5(tmp_path / "missing.h5")
    keras3 = tmp_path / "model.weights.h5"
    with h5py.File(keras3, "w") as handle:
        handle.create_dataset("layers/conv1/vars/0", data=np.zeros((3, 3, 3, 32), np.float32))
    with pytest.raises(CheckpointError, match="Keras 3 .weights.h5 layout"):
        read_keras_h5(keras3)
    odd = tmp_path / "odd.h5"
    with h5py.File(odd, "w") as handle:
        handle.attrs["layer_names"] = ["lstm"]
        handle.create_dataset("lstm/lstm/recurrent_kernel:0", data=np.zeros((4, 16), np.float32))
        handle["lstm"].attrs["weight_names"] = ["lstm/recurrent_kernel:0"]
    with pytest.raises(CheckpointError, match="odd.h5: layer 'lstm': no PyTorch counterpart for Keras variable 'recurrent_kernel'"):
        read_keras_h5(odd)
