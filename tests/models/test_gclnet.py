"""GCLNet: ACmix size, the deploy-time fusion of the asymmetric blocks, training on FER2013."""

from __future__ import annotations

import pytest
import torch

from openfer.errors import ConfigError
from openfer.models import create_model
from openfer.models.gclnet import ACmix, AsymmetricConvBlock, LocalFeatureEnhancement


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_acmix_size_matches_the_authors_code() -> None:
    # q, k, v 3 x (64 x 64 + 64); conv_p 2 x 16 + 16; fc 12 x 9; shift conv 64 x 9 x 3 x 3 (no bias); 2 rates.
    assert _count(ACmix(64, 64, heads=4)) == 3 * 4160 + 48 + 108 + 5184 + 2 == 17_822


def test_sizes_after_fuse(macs) -> None:
    with torch.device("meta"):
        model = create_model("gclnet", num_classes=7)
        resnet34 = create_model("resnet34", num_classes=7)
    # GCLNet paper, Fig. 14: ResNet-34 21.29 M.
    assert _count(resnet34) == 21_288_263
    # Multi-scale part (Eq. 2): 1x1 conv on 16 channels + six 3x3 convs, each with BN; then ACmix.
    assert _count(model.global_branch) == 16 * 16 + 6 * 16 * 16 * 9 + 7 * 32 + 17_822 == 32_126
    # LFA in training form: 8 ACBs of 3x3 + 1x3 + 3x1 kernels, 64 -> 64.
    assert _count(model.local_branch) == 8 * 64 * 64 * (9 + 3 + 3) == 491_520
    model.fuse()
    # LFA deploy form: 8 convs 64 -> 64, 3x3, no bias (paper: LFA 0.29 M, 21.29 -> 21.58 M).
    assert _count(model.local_branch) == 294_912
    assert _count(model) == _count(resnet34) + 294_912 + _count(model.global_branch)
    # The LFA convs cost 8 x 28^2 x 64 x 64 x 9 MACs at 224 (paper: 3678.23 -> 3911.05 M with thop).
    assert macs(_fused_lfa, (64, 56, 56)) == 8 * 28 * 28 * 64 * 64 * 9


def _fused_lfa() -> LocalFeatureEnhancement:
    block = LocalFeatureEnhancement(64)
    block.fuse()
    return block


@pytest.mark.parametrize("batchnorm", [False, True])
def test_fused_equals_unfused_in_eval(batchnorm: bool) -> None:
    torch.manual_seed(0)
    model = create_model("gclnet", num_classes=7, acb_batchnorm=batchnorm)
    if batchnorm:
        for module in model.local_branch.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                torch.nn.init.uniform_(module.weight, 0.5, 1.5)
                torch.nn.init.uniform_(module.bias, -0.2, 0.2)
                torch.nn.init.uniform_(module.running_mean, -0.2, 0.2)
                torch.nn.init.uniform_(module.running_var, 0.5, 2.0)
    model.eval()
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        before = model(x)
        after = model.fuse()(x)
    assert not any(isinstance(m, AsymmetricConvBlock) for m in model.modules())
    assert (before - after).abs().max().item() < 1e-4


def test_insertion_after_the_stem() -> None:
    model = create_model("gclnet", num_classes=7, insert_after="stem").eval()
    with torch.no_grad():
        assert model(torch.randn(8, 3, 32, 32)).shape == (8, 7)
    with pytest.raises(ConfigError, match="insert_after"):
        create_model("gclnet", insert_after="layer2")


def test_forward_backward_and_a_few_steps_on_fer2013(fer2013_batch, optimise) -> None:
    torch.manual_seed(0)
    model = create_model("gclnet", num_classes=7)
    images, labels = fer2013_batch(8, 32, 3)
    first, last = optimise(model, images, labels, {"cross_entropy": {}}, steps=3)
    assert model.global_branch.acmix.rate_attention.grad is not None
    assert model.local_branch.parts[3][2].vertical[0].weight.grad is not None
    assert last < first
