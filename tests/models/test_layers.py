"""Shared layers: folding conv + BatchNorm for inference; the convolution that skips taps reading only padding."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from torch import nn

from openfer.inference import ExpressionModel
from openfer.models.layers import TapTrimmedConv2d, every_tap, fuse_conv_bn
from openfer.models.registry import create_model


def trained_like(net: nn.Module) -> nn.Module:
    """Give every BatchNorm non-trivial running statistics and affine terms, as training would."""
    generator = torch.Generator().manual_seed(0)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            size = module.num_features
            module.running_mean.copy_(torch.randn(size, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
            module.weight.data.copy_(torch.rand(size, generator=generator) + 0.5)
            module.bias.data.copy_(torch.randn(size, generator=generator) * 0.1)
    return net.eval()


def count(net: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in net.modules())


def test_folded_network_computes_the_same_function_and_leaves_the_original_alone():
    torch.manual_seed(0)
    net = trained_like(create_model("openfer_vgg", num_classes=7))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fused = fuse_conv_bn(net)
    assert count(net, nn.BatchNorm2d) == 8 and count(fused, nn.BatchNorm2d) == 0
    x = torch.randn(4, 1, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), net(x), rtol=1e-4, atol=1e-5)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_bf16_inference_runs_the_folded_copy_and_fp32_the_network():
    torch.manual_seed(1)
    net = trained_like(create_model("openfer_vgg", num_classes=7))
    classes = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    faces = np.random.default_rng(0).integers(0, 256, (8, 48, 48), dtype=np.uint8)
    fp32 = ExpressionModel(net, classes, tta="none").predict_proba(faces)
    bf16_model = ExpressionModel(net, classes, tta="none", precision="bf16")
    bf16 = bf16_model.predict_proba(faces)
    assert count(bf16_model._bf16_net(), nn.Conv2d) == 8 and count(bf16_model._bf16_net(), nn.BatchNorm2d) == 0
    assert bf16_model._bf16_net() is bf16_model._bf16_net()  # built once
    np.testing.assert_allclose(bf16, fp32, atol=3e-2)


@pytest.mark.parametrize(("kernel", "stride", "padding"), [(k, s, p) for k, s, p in itertools.product((1, 3, 5), (1, 2, 3), (0, 1, 2)) if k > 1 or p])
def test_trimmed_convolution_gives_nn_conv2ds_outputs_and_gradients(kernel: int, stride: int, padding: int) -> None:
    torch.manual_seed(0)
    for size in (1, 2, 3, 5, 8):
        if size + 2 * padding < kernel:
            continue
        plain, trimmed = nn.Conv2d(3, 4, kernel, stride, padding), TapTrimmedConv2d(3, 4, kernel, stride, padding)
        trimmed.load_state_dict(plain.state_dict())
        x = torch.randn(2, 3, size, size + 1, requires_grad=True)
        expected, got = plain(x), trimmed(x)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        for a, b in zip(torch.autograd.grad(got.square().sum(), (x, trimmed.weight, trimmed.bias)),
                        torch.autograd.grad(expected.square().sum(), (x, plain.weight, plain.bias))):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def macs_of(conv: nn.Module, x: torch.Tensor) -> float:
    with FlopCounterMode(display=False) as counter:
        conv(x)
    return counter.get_total_flops() / 2


def test_a_3x3_convolution_on_a_1x1_map_computes_its_centre_tap_alone_but_counts_all_nine() -> None:
    conv, x = TapTrimmedConv2d(8, 8, 3, 1, 1), torch.randn(1, 8, 1, 1)
    assert macs_of(conv, x) == 8 * 8  # the centre tap: a 1 x 1 convolution
    with every_tap():
        assert macs_of(conv, x) == 9 * 8 * 8  # as the architecture (and the papers' counters) define it
    assert macs_of(conv, torch.randn(1, 8, 4, 4)) == 16 * 9 * 8 * 8  # every tap live: nothing to skip
    assert list(conv.state_dict()) == list(nn.Conv2d(8, 8, 3, 1, 1).state_dict())


def test_resemotenet_at_48_px_skips_its_dead_taps_and_computes_the_same_logits() -> None:
    torch.manual_seed(0)
    net, x = create_model("resemotenet", num_classes=7, in_channels=1).eval(), torch.randn(2, 1, 48, 48)
    assert isinstance(net.res_block3.conv2, TapTrimmedConv2d)
    with torch.no_grad():
        trimmed = macs_of(net, x)
        with every_tap():
            nominal, expected = macs_of(net, x), net(x)
        torch.testing.assert_close(net(x), expected, rtol=1e-4, atol=1e-4)
    assert trimmed < 0.85 * nominal  # the 2048-channel 3 x 3 convolutions on 1 x 1 maps run as 1 x 1 ones
