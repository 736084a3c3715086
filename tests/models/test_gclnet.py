"""GCLNet: ACmix and MGC sizes, parameters and MACs against the paper, the deploy-time fusion of the asymmetric
blocks, training on FER2013."""

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


# GCLNet paper, §4.5 (thop, test-time form, 224 x 224): ResNet-34 3678.23 M, + LFA 3911.05 M, + MGC 3905.07 M.
PAPER_R34_MACS = 3678.23e6
PAPER_LFA_MACS = 3911.05e6 - PAPER_R34_MACS  # 232.82 M
PAPER_MGC_MACS = 3905.07e6 - PAPER_R34_MACS  # 226.84 M ("+ MGC" read as ResNet-34 + MGC alone)
HW = 56 * 56  # F is 64 x 56 x 56


def test_sizes_after_fuse() -> None:
    with torch.device("meta"):
        model = create_model("gclnet", num_classes=7)
        resnet34 = create_model("resnet34", num_classes=7)
    # GCLNet paper, Fig. 14: ResNet-34 21.29 M.
    assert _count(resnet34) == 21_288_263
    # MGC, default global_width 128: four branches 32 (= c/2) wide on the 16-channel groups of F: 1x1 16->32,
    # three first 3x3 convs 16->32, three stacked 3x3 convs 32->32, each with BN (2 x 32); then ACmix 128 -> 64
    # (q, k, v 3 x (128 x 64 + 64); conv_p 48; fc 108; shift conv 5,184; 2 rates).
    multi_scale = 16 * 32 + 3 * 16 * 32 * 9 + 3 * 32 * 32 * 9 + 7 * 2 * 32
    acmix = 3 * (128 * 64 + 64) + 48 + 108 + 64 * 9 * 9 + 2
    assert _count(model.global_branch.scales) == multi_scale == 42_432
    assert _count(model.global_branch.acmix) == acmix == 30_110
    assert _count(model.global_branch) == 72_542
    # Paper, §4.5: "The MGC module introduces only 0.07 M" (here +3.6 %).
    assert abs(_count(model.global_branch) - 70_000) <= 0.1 * 70_000
    # LFA in training form: 8 ACBs of 3x3 + 1x3 + 3x1 kernels, 64 -> 64.
    assert _count(model.local_branch) == 8 * 64 * 64 * (9 + 3 + 3) == 491_520
    model.fuse()
    # LFA deploy form: 8 convs 64 -> 64, 3x3, no bias (paper: LFA 0.29 M, 21.29 -> 21.58 M).
    assert _count(model.local_branch) == 294_912
    assert _count(model) == 21_288_263 + 294_912 + 72_542 == 21_655_717


def test_literal_eq2_width_is_still_available() -> None:
    with torch.device("meta"):
        narrow = create_model("gclnet", num_classes=7, global_width=64)
    # Eq. 2 with 16-wide branches: 1x1 on 16 channels + six 3x3 convs 16 -> 16, each with BN; ACmix(64, 64).
    assert _count(narrow.global_branch) == 16 * 16 + 6 * 16 * 16 * 9 + 7 * 32 + 17_822 == 32_126
    with pytest.raises(ConfigError, match="divisible"):
        create_model("gclnet", global_width=66)


def test_macs_against_the_paper(macs) -> None:
    # FlopCounterMode counts convolutions and matrix products (not BN, softmax or the attention's element-wise
    # products); thop in the paper also counts BN, hence its slightly larger figures.
    resnet34 = macs(lambda: create_model("resnet34", num_classes=7), (3, 224, 224))
    assert resnet34 == pytest.approx(PAPER_R34_MACS, rel=0.01)  # 3663.25 M, -0.4 %
    # LFA convs: 8 x 28^2 x 64 x 64 x 9 = 231.21 M (paper 232.82 M, -0.7 %).
    lfa = macs(_fused_lfa, (64, 56, 56))
    assert lfa == 8 * 28 * 28 * 64 * 64 * 9
    assert lfa == pytest.approx(PAPER_LFA_MACS, rel=0.01)
    # MGC: multi-scale convs 131.66 M + ACmix 98.85 M (q/k/v, conv_p, fc over 16 x HW, shift conv) = 230.51 M
    # (paper 226.84 M, +1.6 %).
    mgc = macs(lambda: create_model("gclnet", num_classes=7).global_branch, (64, 56, 56))
    acmix = 3 * HW * 128 * 64 + HW * 2 * 16 + 16 * HW * 12 * 9 + HW * 64 * 81
    assert mgc == HW * (16 * 32 + 3 * 16 * 32 * 9 + 3 * 32 * 32 * 9) + acmix == 230_508_544
    assert mgc == pytest.approx(PAPER_MGC_MACS, rel=0.03)
    # Whole fused GCLNet: 4124.97 M against ResNet-34 plus the paper's two module increments, 4137.89 M (-0.3 %).
    total = macs(lambda: create_model("gclnet", num_classes=7).fuse(), (3, 224, 224))
    assert total == pytest.approx(PAPER_R34_MACS + PAPER_LFA_MACS + PAPER_MGC_MACS, rel=0.01)


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


def test_module_ablation_of_table_5() -> None:
    """lfa / mgc switch each branch off; with neither, GCLNet is the plain ResNet-34 (same outputs, same weights)."""
    with torch.device("meta"):
        sizes = {(lfa, mgc): _count(create_model("gclnet", lfa=lfa, mgc=mgc).fuse()) for lfa in (False, True) for mgc in (False, True)}
    assert sizes == {(False, False): 21_288_263, (True, False): 21_288_263 + 294_912, (False, True): 21_288_263 + 72_542, (True, True): 21_655_717}
    torch.manual_seed(0)
    plain = create_model("gclnet", num_classes=7, lfa=False, mgc=False).eval()
    resnet34 = create_model("resnet34", num_classes=7).eval()
    resnet34.load_state_dict(plain.backbone.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(plain(x), resnet34(x))
        local_only = create_model("gclnet", num_classes=7, mgc=False).eval()
        net = local_only.backbone
        f = local_only.local_branch(net.layer1(net.stem(x)))
        torch.testing.assert_close(local_only(x), net.forward_head(net.layer4(net.layer3(net.layer2(f)))))


def test_module_internals_of_tables_6_and_7() -> None:
    """LFA without the split (one ACB pair over the whole map) or without asymmetric kernels (split, plain 3x3);
    MGC with a 3x3 conv in place of the multi-scale convolutions or of ACmix. Shapes kept, sizes as defined."""
    acb, plain = 64 * 64 * (9 + 3 + 3), 64 * 64 * 9
    assert _count(LocalFeatureEnhancement(64, split=False)) == 2 * acb
    assert _count(LocalFeatureEnhancement(64, asymmetric=False)) == 8 * plain
    conv_64_128, conv_128_64 = 64 * 128 * 9 + 2 * 128, 128 * 64 * 9 + 2 * 64
    full = create_model("gclnet")
    multiscale_only = create_model("gclnet", mgc_acmix=False)
    acmix_only = create_model("gclnet", mgc_multiscale=False)
    assert _count(multiscale_only.global_branch) == _count(full.global_branch.scales) + conv_128_64
    assert _count(acmix_only.global_branch) == conv_64_128 + _count(full.global_branch.acmix)
    torch.manual_seed(0)
    x = torch.randn(2, 64, 14, 14)
    for module in (LocalFeatureEnhancement(64, split=False), LocalFeatureEnhancement(64, asymmetric=False), multiscale_only.global_branch, acmix_only.global_branch):
        assert module.eval()(x).shape == x.shape
    whole = LocalFeatureEnhancement(64, split=False).eval()
    with torch.no_grad():
        torch.testing.assert_close(whole(x), x + whole.parts[0](x))  # one pair of blocks over the whole map
        fused = create_model("gclnet", num_classes=7, lfa_asymmetric=False).eval()
        y = torch.randn(1, 3, 64, 64)
        before = fused(y)
        torch.testing.assert_close(fused.fuse()(y), before)  # plain convs are left as they are, ACBs folded
