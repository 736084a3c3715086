"""R18+FAML: structure, feature fusion, per-image attention, training with the multi-loss on FER2013."""

from __future__ import annotations

import pytest
import torch

from openfer.errors import ConfigError
from openfer.models import create_model, model_info
from openfer.models.backbones.resnet import ResNet


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _attention_block(c: int) -> int:
    """LayerNorm x 2, qkv, projection and a 2x MLP on c channels."""
    return 2 * 2 * c + (c * 3 * c + 3 * c) + (c * c + c) + (c * 2 * c + 2 * c) + (2 * c * c + c)


def test_parameters_and_macs(macs) -> None:
    with torch.device("meta"):
        model = create_model("faml", num_classes=7)
        resnet18 = create_model("resnet18", num_classes=7)
        fa_only = create_model("faml", num_classes=7, attention_stages=())
    conv1 = 3 * 64 * 7 * 7
    assert _count(fa_only) == _count(resnet18) + 2 * conv1 + 2
    assert _count(model) == _count(fa_only) + _attention_block(64) + _attention_block(128) + _attention_block(256) == 11_891_977
    # ResNet-18 + the two auxiliary 7x7 convs on their crops (112 x 56 and 112 x 50 outputs) + attention
    # (q k^T and weights x v over 56^2, 28^2, 14^2 tokens).
    assert macs(lambda: create_model("faml", num_classes=7), (3, 224, 224)) == pytest.approx(3.67e9, rel=0.01)
    assert model_info("faml").default_losses == ("faml",)
    with pytest.raises(ConfigError, match="attention_stages"):
        create_model("faml", attention_stages=(5,))


def test_fusion_starts_from_conv1_and_images_do_not_see_each_other() -> None:
    torch.manual_seed(0)
    model = create_model("faml", num_classes=7).eval()
    assert all(torch.equal(conv.weight, model.backbone.conv1.weight) for conv in model.aux_convs)
    assert model.aux_weights.tolist() == [0.5, 0.5]
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        alone = model(x[:1].repeat(8, 1, 1, 1))[0]
        together = model(x)[0]
    assert torch.allclose(alone, together, atol=1e-5)


def test_forward_backward_and_a_few_steps_with_the_multi_loss(fer2013_batch, optimise) -> None:
    torch.manual_seed(0)
    model = create_model("faml", num_classes=7)
    images, labels = fer2013_batch(8, 32, 3)
    first, last = optimise(model, images, labels, {"faml": {"probabilities": {"lsr": 0.8, "ce": 0.2}, "seed": 0}}, steps=3)
    assert model.aux_weights.grad is not None and model.attention["layer3"].qkv.weight.grad is not None
    assert last < first


def test_auxiliary_convs_copy_the_pretrained_conv1(tmp_path) -> None:
    torch.manual_seed(0)
    source = ResNet(18, num_classes=1000)
    torch.save({"state_dict": source.state_dict()}, tmp_path / "resnet18_msceleb.pth")
    model = create_model("faml", num_classes=7, backbone_weights=str(tmp_path / "resnet18_msceleb.pth"))
    assert all(torch.equal(conv.weight, source.conv1.weight) for conv in model.aux_convs)
    assert torch.equal(model.backbone.layer4[1].bn2.running_var, source.layer4[1].bn2.running_var)



def test_auxiliary_maps_land_where_their_parts_of_the_face_are() -> None:
    # FAML paper, Fig. 1: the auxiliary convs see parts of the face and their maps are added over those parts
    # of the main map, not resized to the whole face.
    torch.manual_seed(0)
    model = create_model("faml", num_classes=7, attention_stages=()).eval()
    with torch.no_grad():
        model.backbone.conv1.weight.zero_()  # the fused stem then holds the auxiliary maps alone
        x = torch.randn(1, 3, 224, 224)
        stem = model.fused_stem(x)
        full = model.aux_convs[0](x)  # aux conv 0 on the whole face; its copy of conv1 is unchanged
    assert stem.shape == (1, 64, 112, 112)
    # Upper half: input rows 0-111 -> main rows 0-55; lower 45 % (snapped to row 124) -> main rows 62-111.
    assert stem[:, :, 56:62].abs().max() == 0
    assert stem[:, :, 62:].abs().amax(dim=(0, 1, 3)).min() > 0
    # Away from the crop's edge the auxiliary map equals the conv of the whole face at the same positions.
    assert torch.allclose(stem[:, :, 5:50], 0.5 * full[:, :, 5:50], atol=1e-5)
