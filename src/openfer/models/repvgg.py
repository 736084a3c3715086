"""A re-parameterisable CNN for 48 x 48 grey faces, made for CPU inference (RepVGG, Ding et al., CVPR 2021).

Training form: every block sums a 3x3 conv + BN, a 1x1 conv + BN and (when the shape allows) an identity BN,
then a ReLU; the extra branches help optimisation. :meth:`FERRepVGG.reparameterize` folds each block into one
3x3 convolution with a bias, which computes the same function in eval mode, so inference is a plain stack of
3x3 convs and ReLUs (the cheapest layout for oneDNN and onnxruntime, bf16 or int8). Downsampling is by
stride-2 blocks rather than pooling; the head (global average pooling and a two-layer classifier) is
openfer_vgg's. With the default widths (32, 64, 128, 256) the folded network needs 0.12 G MACs per face, under
half of openfer_vgg's 0.26 G.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from openfer.models.layers import classifier_head
from openfer.models.registry import register_model


def _conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(out_channels))


def _fold(kernel: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """A conv kernel followed by eval-mode BN as (kernel, bias)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return kernel * scale[:, None, None, None], bn.bias - bn.running_mean * scale


class RepBlock(nn.Module):
    """``ReLU(BN(conv3x3 x) + BN(conv1x1 x) [+ BN(x)])``; after :meth:`reparameterize`, ``ReLU(conv3x3 x + b)``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.square = _conv_bn(in_channels, out_channels, 3, stride)
        self.point = _conv_bn(in_channels, out_channels, 1, stride)
        self.identity = nn.BatchNorm2d(in_channels) if in_channels == out_channels and stride == 1 else None
        self.fused: nn.Conv2d | None = None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused is not None:
            return self.relu(self.fused(x))
        out = self.square(x) + self.point(x)
        if self.identity is not None:
            out = out + self.identity(x)
        return self.relu(out)

    @torch.no_grad()
    def fused_conv(self) -> nn.Conv2d:
        """The single 3x3 conv (with bias) equal to the three branches in eval mode."""
        weight, bias = _fold(self.square[0].weight, self.square[1])
        point, point_bias = _fold(self.point[0].weight, self.point[1])
        weight = weight + F.pad(point, (1, 1, 1, 1))
        bias = bias + point_bias
        if self.identity is not None:
            eye = torch.zeros_like(weight)
            eye[torch.arange(self.in_channels), torch.arange(self.in_channels), 1, 1] = 1.0
            identity, identity_bias = _fold(eye, self.identity)
            weight, bias = weight + identity, bias + identity_bias
        conv = nn.Conv2d(self.in_channels, self.out_channels, 3, self.stride, 1, bias=True).to(weight)
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
        return conv

    def reparameterize(self) -> None:
        """Replace the branches by :meth:`fused_conv` (inference form; the block can no longer be trained as RepVGG)."""
        if self.fused is None:
            self.fused = self.fused_conv()
            del self.square, self.point, self.identity
            self.identity = None


class FERRepVGG(nn.Module):
    """RepVGG-style FER network: a stride-1 stem block at the input size, then per stage a stride-2 block and
    ``depth - 1`` stride-1 blocks; global average pooling and openfer_vgg's classifier head."""

    def __init__(
        self,
        num_classes: int = 7,
        in_channels: int = 1,
        widths: tuple[int, ...] = (32, 64, 128, 256),
        depths: tuple[int, ...] = (2, 2, 2, 2),
        hidden: int = 256,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        if len(widths) != len(depths) or min(depths) < 1:
            raise ValueError(f"widths {widths} and depths {depths} must pair up, each depth at least 1")
        blocks: list[nn.Module] = []
        channels = in_channels
        for stage, (width, depth) in enumerate(zip(widths, depths)):
            for index in range(depth):
                blocks.append(RepBlock(channels, width, stride=2 if stage > 0 and index == 0 else 1))
                channels = width
        self.features = nn.Sequential(*blocks)
        self.head = classifier_head(channels, hidden, num_classes, dropout)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def reparameterize(self) -> "FERRepVGG":
        """Fold every block into one 3x3 conv in place (call in eval mode); returns ``self``."""
        for block in self.features:
            block.reparameterize()
        return self


def reparameterized(net: nn.Module) -> nn.Module:
    """An inference copy of ``net`` with every :class:`RepBlock` folded (``net`` itself is unchanged)."""
    folded = copy.deepcopy(net).eval()
    for module in folded.modules():
        if isinstance(module, RepBlock):
            module.reparameterize()
    return folded


@register_model(
    "openfer_repvgg",
    input_size=(1, 48, 48),
    mean=0.5,
    std=0.25,
    head="head",
    paper="openfer CPU model: RepVGG blocks (Ding et al., RepVGG, CVPR 2021) folded to 3x3 convs for inference",
)
def openfer_repvgg(num_classes: int = 7, **kwargs) -> FERRepVGG:
    return FERRepVGG(num_classes=num_classes, **kwargs)
