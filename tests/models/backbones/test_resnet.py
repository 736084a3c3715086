"""ResNet-18/34: torchvision layout and sizes, the checkpoint loader, training on FER2013."""

from __future__ import annotations

import pytest
import torch

from openfer.checkpoints import load_backbone_weights
from openfer.errors import CheckpointError
from openfer.models import create_model
from openfer.models.backbones.resnet import HEAD, ResNet


def test_parameters_and_macs_match_torchvision(macs) -> None:
    with torch.device("meta"):
        resnet18 = create_model("resnet18", num_classes=1000)
        resnet34 = create_model("resnet34", num_classes=1000)
    assert sum(p.numel() for p in resnet18.parameters()) == 11_689_512
    assert sum(p.numel() for p in resnet34.parameters()) == 21_797_672
    # DAN paper, Table 6: ResNet-18 1.82 G at 224.
    assert macs(lambda: create_model("resnet18", num_classes=1000), (3, 224, 224)) == pytest.approx(1.82e9, rel=0.02)


def test_torchvision_key_layout() -> None:
    with torch.device("meta"):
        state = ResNet(18, num_classes=1000).state_dict()
        trunk = ResNet(18, num_classes=0).state_dict()
    # 20 convs, 20 BNs x (weight, bias, running mean/var, num_batches_tracked), fc weight and bias.
    assert len(state) == 122
    assert {"conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer2.0.downsample.0.weight",
            "layer2.0.downsample.1.num_batches_tracked", "layer4.1.bn2.bias", "fc.weight", "fc.bias"} <= set(state)
    assert set(trunk) == set(state) - {"fc.weight", "fc.bias"}


def _msceleb_style(model: ResNet, fc_classes: int) -> dict:
    """A checkpoint as the MS-Celeb-1M one is shipped: wrapped, ``module.``-prefixed, another fc."""
    state = {f"module.{k}": v.clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}
    state["module.fc.weight"] = torch.randn(fc_classes, 512)
    state["module.fc.bias"] = torch.randn(fc_classes)
    return {"state_dict": state}


def test_round_trip_in_torchvision_layout(tmp_path) -> None:
    torch.manual_seed(0)
    source = ResNet(18, num_classes=7).eval()
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    target = ResNet(18, num_classes=7).eval()
    assert load_backbone_weights(target, path, None) == []
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(source(x), target(x))


def test_wrapped_prefixed_checkpoint_with_another_head(tmp_path) -> None:
    torch.manual_seed(0)
    source = ResNet(18, num_classes=7)
    path = tmp_path / "resnet18_msceleb.pth"
    checkpoint = _msceleb_style(source, fc_classes=1000)
    # Checkpoints from before PyTorch 0.4.1 have no BN counters.
    checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if not k.endswith("num_batches_tracked")}
    torch.save(checkpoint, path)
    target = ResNet(18, num_classes=7)
    head_before = target.fc.weight.clone()
    report = load_backbone_weights(target, path, HEAD)
    assert report == [
        "head not loaded: fc.bias: checkpoint (1000,) vs model (7,)",
        "head not loaded: fc.weight: checkpoint (1000, 512) vs model (7, 512)",
    ]
    assert torch.equal(target.layer4[1].conv2.weight, source.layer4[1].conv2.weight)
    assert torch.equal(target.bn1.running_var, source.bn1.running_var)
    assert torch.equal(target.fc.weight, head_before)
    trunk = ResNet(18, num_classes=0)
    assert load_backbone_weights(trunk, path, HEAD) == [
        "head not loaded: fc.bias: checkpoint (1000,) vs not in model",
        "head not loaded: fc.weight: checkpoint (1000, 512) vs not in model",
    ]


def test_wrong_checkpoint_lists_every_mismatch(tmp_path) -> None:
    state = ResNet(18, num_classes=7).state_dict()
    del state["layer3.0.conv1.weight"]
    state["layer1.0.bn1.weight"] = torch.ones(32)
    state["extra.weight"] = torch.ones(1)
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as error:
        load_backbone_weights(ResNet(18, num_classes=7), path, HEAD)
    message = str(error.value)
    assert "3 problems" in message
    assert "missing: layer3.0.conv1.weight" in message
    assert "unexpected: extra.weight" in message
    assert "layer1.0.bn1.weight: checkpoint (32,) vs model (64,)" in message
    # A 34-layer checkpoint does not fit a ResNet-18.
    torch.save(ResNet(34, num_classes=7).state_dict(), path)
    with pytest.raises(CheckpointError, match="96 problems: unexpected: layer1.2.conv1.weight"):
        load_backbone_weights(ResNet(18, num_classes=7), path, HEAD)


def test_grey_input_and_a_few_steps_on_fer2013(fer2013_batch, optimise) -> None:
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=7, in_channels=1)
    images, labels = fer2013_batch(8, 32, 1)
    first, last = optimise(model, images, labels, {"cross_entropy": {}}, steps=3)
    assert model(images[:2]).shape == (2, 7)
    assert last < first
