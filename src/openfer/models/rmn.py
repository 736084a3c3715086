"""Residual Masking Network (Pham, Vu and Tran, "Facial Expression Recognition using Residual Masking
Network", ICPR 2020; authors' code: phamquiluan/ResidualMaskingNetwork, ``resmasking_dropout1``).

A ResNet-34 whose four stages are each followed by a masking block: a U-Net (contracting path of
residual blocks with max-pooling, expanding path of transposed convolutions with skip concatenations) of
depth 4, 3, 2, 1 after ``layer1`` ... ``layer4``. Its output ``m`` re-weights the stage's features with
the attention-residual rule ``x * (1 + m)``, so a mask can emphasise features but never erase them.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from openfer.models.backbones.resnet import WIDTHS, BasicBlock, ResNet, init_conv_bn, resnet
from openfer.models.registry import register_model

MaskActivation = Literal["softmax", "sigmoid"]
#: U-Net depth of the masking block after each ResNet stage (authors' code).
MASK_DEPTHS = (4, 3, 2, 1)


class MaskingBlock(nn.Module):
    """A U-Net of ``depth`` levels on a C-channel map, returning a C-channel mask of the same size.

    Level i (0-based) is a residual block C*2^i -> C*2^(i+1); levels are joined by 2x2 max-pooling on the way
    down and by a 2x2 transposed conv-BN-ReLU (C*2^(i+1) -> C*2^i) plus concatenation with the matching
    level's output on the way up; a last residual block maps 2C -> C. Widths follow the authors' code.
    """

    def __init__(self, channels: int, depth: int, activation: MaskActivation = "softmax") -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.activation = activation
        widths = [channels * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList(BasicBlock(widths[i], widths[i + 1]) for i in range(depth))
        self.up_pool = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, 2), nn.BatchNorm2d(widths[i]), nn.ReLU(inplace=True))
            for i in range(depth - 1, 0, -1)
        )
        self.up = nn.ModuleList(BasicBlock(widths[i + 1], widths[i]) for i in range(depth - 1, 0, -1))
        self.out = BasicBlock(widths[1], widths[0])
        # The authors' initialisation: Kaiming-normal convs, BN weight 1 / bias 0, and the last BN of every
        # residual block zeroed so each block starts as its shortcut (Goyal et al., 2017).
        init_conv_bn(self)
        for module in self.modules():
            if isinstance(module, BasicBlock):
                nn.init.zeros_(module.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, block in enumerate(self.down):
            x = block(x if level == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for up_pool, block, skip in zip(self.up_pool, self.up, reversed(skips[:-1])):
            x = block(torch.cat([up_pool(x), skip], dim=1))
        x = self.out(x)
        # Authors' code: softmax over channels (a sigmoid variant is left commented out there).
        return torch.softmax(x, dim=1) if self.activation == "softmax" else torch.sigmoid(x)


class ResidualMaskingNetwork(nn.Module):
    """RMN on a ResNet-34 trunk; ``forward`` returns logits."""

    def __init__(
        self,
        num_classes: int = 7,
        in_channels: int = 3,
        dropout: float = 0.4,
        mask_activation: MaskActivation = "softmax",
        backbone_weights: str | None = None,
    ) -> None:
        super().__init__()
        self.backbone: ResNet = resnet(34, num_classes=0, in_channels=in_channels, backbone_weights=backbone_weights)
        self.masks = nn.ModuleList(MaskingBlock(w, d, mask_activation) for w, d in zip(WIDTHS, MASK_DEPTHS))
        # ``resmasking_dropout1``: Dropout(0.4) before the classifier.
        self.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.backbone.num_features, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.backbone.stem(x)
        for index, mask in enumerate(self.masks, start=1):
            x = getattr(self.backbone, f"layer{index}")(x)
            x = x * (1 + mask(x))  # RMN paper: attention residual learning keeps the trunk's features
        return self.fc(x.mean(dim=(2, 3)))


@register_model(
    "rmn",
    input_size=(3, 224, 224),
    paper="Pham, Vu and Tran, Facial Expression Recognition using Residual Masking Network, ICPR 2020",
)
def rmn(
    num_classes: int = 7,
    in_channels: int = 3,
    dropout: float = 0.4,
    mask_activation: MaskActivation = "softmax",
    backbone_weights: str | None = None,
) -> ResidualMaskingNetwork:
    """Residual Masking Network (137,796,423 parameters for 7 classes; 21.9 GMACs at 224 x 224).

    ``backbone_weights``: a user-held torchvision-layout ResNet-34 checkpoint (ImageNet upstream).
    """
    return ResidualMaskingNetwork(num_classes, in_channels, dropout, mask_activation, backbone_weights)
