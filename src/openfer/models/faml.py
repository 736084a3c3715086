"""R18+FAML (Zhou, Xie, Tian, "Multi Loss-based Feature Fusion and Top Two Voting Ensemble Decision Strategy
for Facial Expression Recognition in the Wild", §3.1, Figs. 1 and 4). No public code.

A ResNet-18 (MS-Celeb-1M weights upstream) with internal Feature fusion (FA): the first conv is joined by two
auxiliary convs that see parts of the face, their maps added to the main conv1 map by learnable weights; and
one ViT-style Attention block after each of the first three residual stages. Trained with the multi-loss
(ML, ``faml`` in :mod:`openfer.losses`). Where the paper is silent we follow docs/models/faml.md:
the auxiliary crops are the upper half (eyes, brows) and the lower 45 % (nose, mouth) of the aligned face,
each convolved at its own resolution and its map added where that part lies in the main map (Fig. 1: the
yellow and blue maps cover parts of the red one), convs initialised as copies of conv1, fusion weights 0.5;
an attention block is a 1-layer pre-norm transformer encoder over the feature-map positions (heads = C / 64,
MLP ratio 2, no positional embedding: the conv features already carry position).
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from openfer.errors import ConfigError
from openfer.models.backbones.resnet import ResNet, resnet
from openfer.models.registry import IMAGENET_GREY_MEAN, IMAGENET_GREY_STD, register_model

#: Auxiliary FA regions as fractions of the face (x0, y0, x1, y1): upper half, lower 45 %.
DEFAULT_AUX_REGIONS: tuple[tuple[float, float, float, float], ...] = ((0.0, 0.0, 1.0, 0.5), (0.0, 0.55, 1.0, 1.0))


class AttentionBlock(nn.Module):
    """Pre-norm transformer encoder layer (ViT, Dosovitskiy et al., ICLR 2021) on the H x W positions of a map.

    Each position attends only to positions of the same image.
    """

    def __init__(self, channels: int, heads: int | None = None, mlp_ratio: float = 2.0) -> None:
        super().__init__()
        self.heads = heads or max(1, channels // 64)
        if channels % self.heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({self.heads})")
        hidden = int(channels * mlp_ratio)
        self.norm1 = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        q, k, v = self.qkv(self.norm1(tokens)).reshape(n, h * w, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, h * w, c)
        tokens = tokens + self.proj(attended)
        tokens = tokens + self.mlp(self.norm2(tokens))
        return tokens.transpose(1, 2).reshape(n, c, h, w)


class FAML(nn.Module):
    """ResNet-18 + FA + attention blocks after ``attention_stages`` (default 1, 2, 3); input a square face."""

    def __init__(
        self,
        num_classes: int = 7,
        in_channels: int = 3,
        aux_regions: Sequence[Sequence[float]] = DEFAULT_AUX_REGIONS,
        attention_stages: Sequence[int] = (1, 2, 3),
        mlp_ratio: float = 2.0,
        backbone_weights: str | None = None,
    ) -> None:
        super().__init__()
        if any(stage not in (1, 2, 3, 4) for stage in attention_stages):
            raise ConfigError(f"attention_stages must be within 1..4, got {tuple(attention_stages)}")
        self.backbone: ResNet = resnet(18, num_classes, in_channels, backbone_weights)
        self.aux_regions = tuple(tuple(float(v) for v in region) for region in aux_regions)
        # FA: auxiliary first convs start as copies of the (possibly pretrained) main conv1.
        self.aux_convs = nn.ModuleList(copy.deepcopy(self.backbone.conv1) for _ in self.aux_regions)
        self.aux_weights = nn.Parameter(torch.full((len(self.aux_regions),), 0.5))
        widths = {index: layer[-1].conv2.out_channels for index, layer in enumerate(self._stages(), start=1)}
        self.attention = nn.ModuleDict({f"layer{stage}": AttentionBlock(widths[stage], mlp_ratio=mlp_ratio) for stage in attention_stages})

    def _stages(self) -> list[nn.Sequential]:
        return [self.backbone.layer1, self.backbone.layer2, self.backbone.layer3, self.backbone.layer4]

    def fused_stem(self, x: torch.Tensor) -> torch.Tensor:
        """FA: ``conv1(x) + sum_i w_i * place_i(aux_conv_i(crop_i(x)))`` (FAML paper, Fig. 1, weighted addition).

        Each crop is convolved at the input's resolution (not resized) and its map is added at the positions of
        the main map that the crop covers: box corners are snapped to the conv stride, so aux position (r, c)
        and main position (r + y0 / s, c + x0 / s) see the same pixels; the rest of the main map is left as it is.
        """
        height, width = x.shape[-2:]
        out = self.backbone.conv1(x)
        stride = self.backbone.conv1.stride[0]
        for index, ((x0, y0, x1, y1), conv) in enumerate(zip(self.aux_regions, self.aux_convs)):
            left, top = (round(v * size / stride) * stride for v, size in ((x0, width), (y0, height)))
            right, bottom = max(left + stride, round(x1 * width)), max(top + stride, round(y1 * height))
            part = conv(x[:, :, top:bottom, left:right])
            row, col = top // stride, left // stride
            part = part[:, :, : out.shape[2] - row, : out.shape[3] - col]
            placed = F.pad(part, (col, out.shape[3] - col - part.shape[3], row, out.shape[2] - row - part.shape[2]))
            out = out + self.aux_weights[index] * placed
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.backbone
        y = net.maxpool(net.relu(net.bn1(self.fused_stem(x))))
        for index, stage in enumerate(self._stages(), start=1):
            y = stage(y)
            if f"layer{index}" in self.attention:
                y = self.attention[f"layer{index}"](y)
        return net.forward_head(y)


@register_model(
    "faml",
    input_size=(3, 224, 224),
    mean=IMAGENET_GREY_MEAN,
    std=IMAGENET_GREY_STD,
    head="backbone.fc",
    paper="Zhou, Xie, Tian, Multi Loss-based Feature Fusion and Top Two Voting Ensemble Decision Strategy for Facial Expression Recognition in the Wild",
    default_losses=("faml",),
    pretrained="ms-celeb-1m",
)
def faml(
    num_classes: int = 7,
    in_channels: int = 3,
    aux_regions: Sequence[Sequence[float]] = DEFAULT_AUX_REGIONS,
    attention_stages: Sequence[int] = (1, 2, 3),
    mlp_ratio: float = 2.0,
    backbone_weights: str | None = None,
) -> FAML:
    """R18+FAML; ``attention_stages=()`` gives the paper's R18+FA ablation."""
    return FAML(num_classes, in_channels, aux_regions, attention_stages, mlp_ratio, backbone_weights)
