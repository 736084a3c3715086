"""ConvNeXt backbone: sizes, the authors' key layout, torchvision conversion and the checkpoint loader."""

from __future__ import annotations

import pytest
import torch

from openfer.checkpoints import save_safetensors
from openfer.errors import CheckpointError
from openfer.models import create_model
from openfer.models.backbones.convnext import ConvNeXt, from_torchvision_layout, load_release_weights

# ImageNet-1k classifiers: parameters as in the ConvNeXt release / torchvision.
PARAMETERS = {"tiny": 28_589_128, "small": 50_223_688, "base": 88_591_464, "large": 197_767_336, "xlarge": 350_196_968}
SMALL = {"depths": (1, 1, 2, 1), "dims": (16, 32, 64, 128)}


@pytest.mark.parametrize("size", sorted(PARAMETERS))
def test_parameters_per_size(size: str) -> None:
    with torch.device("meta"):
        model = create_model(f"convnext_{size}", num_classes=1000)
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS[size]


def test_macs_of_tiny(macs) -> None:
    # ConvNeXt paper, Table 1 / torchvision: ConvNeXt-T 4.5 GFLOPs (multiply-adds) at 224, 4.46 in torchvision.
    assert macs(lambda: create_model("convnext_tiny", num_classes=1000), (3, 224, 224)) == pytest.approx(4.46e9, rel=0.02)


def test_authors_key_layout() -> None:
    with torch.device("meta"):
        keys = set(create_model("convnext_tiny").state_dict())
    assert {"downsample_layers.0.0.weight", "downsample_layers.3.1.weight", "stages.2.8.gamma", "stages.0.0.dwconv.weight",
            "stages.3.2.pwconv2.bias", "norm.weight", "head.weight"} <= keys  # fmt: skip


def test_forward_backward_on_a_small_input() -> None:
    torch.manual_seed(0)
    model = create_model("convnext_tiny", num_classes=7)
    logits = model(torch.randn(2, 3, 64, 64))
    assert logits.shape == (2, 7)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def to_torchvision_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse renaming, written independently of the one under test."""
    part = {"dwconv": "0", "norm": "2", "pwconv1": "3", "pwconv2": "5"}
    out = {}
    for key, value in state.items():
        p = key.split(".")
        if p[0] == "downsample_layers":
            out[f"features.{0 if p[1] == '0' else 2 * int(p[1])}.{p[2]}.{p[3]}"] = value
        elif p[0] == "stages" and p[3] == "gamma":
            out[f"features.{2 * int(p[1]) + 1}.{p[2]}.layer_scale"] = value.view(-1, 1, 1)
        elif p[0] == "stages":
            out[f"features.{2 * int(p[1]) + 1}.{p[2]}.block.{part[p[3]]}.{p[4]}"] = value
        else:
            out[f"classifier.{'0' if p[0] == 'norm' else '2'}.{p[1]}"] = value
    return out


def test_torchvision_checkpoints_convert_and_load(tmp_path) -> None:
    source = ConvNeXt(**SMALL, num_classes=10)
    state = source.state_dict()
    assert {k: v.shape for k, v in from_torchvision_layout(to_torchvision_layout(state), SMALL["depths"]).items()} == {
        k: v.shape for k, v in state.items()
    }
    path = tmp_path / "convnext_torchvision.pth"
    torch.save(to_torchvision_layout(state), path)
    target = ConvNeXt(**SMALL, num_classes=7)
    report = load_release_weights(target, path)
    assert torch.equal(target.stages[2][1].gamma, source.stages[2][1].gamma)
    assert torch.equal(target.downsample_layers[0][1].weight, source.downsample_layers[0][1].weight)
    assert report == ["head not loaded: head.bias: checkpoint (10,) vs model (7,)",
                      "head not loaded: head.weight: checkpoint (10, 128) vs model (7, 128)"]  # fmt: skip


def test_loader_rejects_another_size(tmp_path) -> None:
    path = tmp_path / "wrong.safetensors"
    save_safetensors(ConvNeXt((1, 1, 1, 1), SMALL["dims"], num_classes=0).state_dict(), path)
    with pytest.raises(CheckpointError, match="missing: stages.2.1.gamma"):
        load_release_weights(ConvNeXt(**SMALL), path)
