"""MobileNetV1 backbone: Keras layout and sizes, truncation for PAtt-Lite, the checkpoint loader."""

from __future__ import annotations

import pytest
import torch

from openfer.checkpoints import save_safetensors
from openfer.errors import CheckpointError
from openfer.models import create_model
from openfer.models.backbones.mobilenet import MobileNetV1, layer_names, load_keras_layout_weights


def test_parameters_and_macs_match_the_paper(macs) -> None:
    with torch.device("meta"):
        model = create_model("mobilenet_v1", num_classes=1000)
    # Keras MobileNet 1.0 224: 4,253,864 weights of which 21,888 are BN moving statistics.
    assert sum(p.numel() for p in model.parameters()) == 4_231_976
    assert sum(b.numel() for n, b in model.named_buffers() if "running" in n) == 21_888
    # MobileNet paper, Table 8: 569 million mult-adds at 224.
    assert macs(lambda: create_model("mobilenet_v1", num_classes=1000), (3, 224, 224)) == pytest.approx(569e6, rel=0.02)


def test_keras_layer_names_and_truncation() -> None:
    with torch.device("meta"):
        model = MobileNetV1(num_classes=0, last_layer="conv_dw_9")
        features = model(torch.empty(1, 3, 224, 224))
    assert len(layer_names()) == 27 and layer_names("conv_dw_9")[-2:] == ["conv_pw_8", "conv_dw_9"]
    assert {"conv1.weight", "conv1_bn.running_var", "conv_dw_9.weight", "conv_dw_9_bn.bias"} <= set(model.state_dict())
    assert "conv_pw_9.weight" not in model.state_dict()
    assert tuple(features.shape) == (1, 512, 14, 14)
    with pytest.raises(ValueError, match="full network"):
        MobileNetV1(num_classes=7, last_layer="conv_dw_9")


def test_forward_backward_and_a_few_steps_on_fer2013(fer2013_batch, optimise) -> None:
    torch.manual_seed(0)
    model = create_model("mobilenet_v1", num_classes=7)
    images, labels = fer2013_batch(32, 64, 3)
    first, last = optimise(model, images, labels, {"cross_entropy": {}}, steps=5, lr=0.01)
    assert last < first
    assert all(p.grad is not None for p in model.parameters())


def test_loader_fills_a_truncated_backbone_and_reports_the_rest(tmp_path) -> None:
    full = MobileNetV1(num_classes=1000)
    path = tmp_path / "mobilenet.safetensors"
    save_safetensors(full.state_dict(), path)
    truncated = MobileNetV1(num_classes=0, last_layer="conv_dw_9")
    report = load_keras_layout_weights(truncated, path)
    assert torch.equal(truncated.conv_dw_9.weight, full.conv_dw_9.weight)
    assert torch.equal(truncated.conv1_bn.running_mean, full.conv1_bn.running_mean)
    assert any(line.startswith("head not loaded: conv_preds.weight") for line in report)
    assert any("conv_pw_13.weight" in line for line in report)


def test_loader_rejects_a_mis_shaped_checkpoint(tmp_path) -> None:
    state = MobileNetV1(num_classes=0, last_layer="conv_dw_9").state_dict()
    state["conv_pw_1.weight"] = torch.zeros(32, 32, 1, 1)
    del state["conv1_bn.bias"]
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="conv_pw_1.weight") as error:
        load_keras_layout_weights(MobileNetV1(num_classes=0, last_layer="conv_dw_9"), path)
    assert "conv1_bn.bias" in str(error.value)
