"""Shared layers: folding conv + BatchNorm for inference."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from openfer.inference import ExpressionModel
from openfer.models.layers import fuse_conv_bn
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
