"""openfer_repvgg: the folded network computes what the training form computes, and is a plain conv stack."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from openfer.inference import ExpressionModel
from openfer.labels import FER2013
from openfer.models import create_model
from openfer.models.layers import fuse_conv_bn
from openfer.models.repvgg import RepBlock, reparameterized


def _trained_like(net: nn.Module) -> nn.Module:
    """Random BN statistics and affine parameters, as a trained network has (fresh ones fold trivially)."""
    torch.manual_seed(0)
    for m in net.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


def test_each_block_folds_into_one_conv_with_the_same_output() -> None:
    for in_channels, out_channels, stride in ((8, 8, 1), (8, 16, 2), (1, 8, 1)):
        block = _trained_like(RepBlock(in_channels, out_channels, stride))
        assert (block.identity is not None) == (in_channels == out_channels and stride == 1)
        x = torch.randn(2, in_channels, 12, 12)
        with torch.no_grad():
            expected = block(x)
            block.reparameterize()
            assert isinstance(block.fused, nn.Conv2d) and block.fused.kernel_size == (3, 3)
            torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)


def test_folded_network_is_a_plain_conv_stack_with_the_same_logits() -> None:
    net = _trained_like(create_model("openfer_repvgg", num_classes=7))
    folded = reparameterized(net)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())  # only the head's BatchNorm1d is left
    convs = [m for m in folded.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 8 and all(c.kernel_size == (3, 3) for c in convs)
    x = torch.randn(3, 1, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x), atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(fuse_conv_bn(net)(x), net(x), atol=1e-4, rtol=1e-4)  # the bf16 path folds it too
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())  # the original keeps its training form
    macs = sum(c.weight.numel() * (48 // c.stride[0]) ** 2 for c in convs[:2]) + sum(
        c.weight.numel() * (48 // (2 ** (1 + i // 2))) ** 2 for i, c in enumerate(convs[2:])
    )
    assert macs < 0.5 * 263e6  # under half of openfer_vgg's convolutions


def test_trains_and_predicts_through_expression_model() -> None:
    torch.manual_seed(0)
    net = create_model("openfer_repvgg", num_classes=7)
    optimiser = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    x, y = torch.randn(16, 1, 48, 48), torch.arange(16) % 7
    losses = []
    for _ in range(8):
        loss = nn.functional.cross_entropy(net(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    faces = np.random.default_rng(0).integers(0, 256, (4, 48, 48), dtype=np.uint8)
    fp32 = ExpressionModel(net.eval(), FER2013, tta="flip", precision="fp32").predict_proba(faces)
    bf16 = ExpressionModel(net, FER2013, tta="flip", precision="bf16").predict_proba(faces)
    np.testing.assert_allclose(bf16, fp32, atol=3e-2)


def test_onnx_export_holds_the_folded_graph(tmp_path) -> None:
    import pytest

    onnx = pytest.importorskip("onnx")
    from openfer.export import export_onnx

    model = ExpressionModel(_trained_like(create_model("openfer_repvgg", num_classes=7)), FER2013, tta="flip", precision="fp32", name="openfer_repvgg")
    path = export_onnx(model, tmp_path / "rep.onnx", tolerance=1e-4)  # checked against the training form in PyTorch
    ops = [node.op_type for node in onnx.load(path).graph.node]
    assert ops.count("Conv") == 8 and "BatchNormalization" not in ops[: ops.index("GlobalAveragePool") if "GlobalAveragePool" in ops else len(ops)]
