"""ResEmoteNet (Roy et al., "ResEmoteNet: Bridging Accuracy and Loss Reduction in Facial Emotion
Recognition", 2024; authors' code: ArnabKumarRoy02/ResEmoteNet), as re-trained in Berindeie, "Ensemble
Models for Facial Expression Recognition", 2024, Sec. 5.

Three conv-BN-ReLU-maxpool layers (3 -> 64 -> 128 -> 256), a squeeze-and-excitation block, three strided
residual blocks (256 -> 512 -> 1024 -> 2048), global average pooling and a four-layer MLP head. Widths,
biases and dropout follow the authors' code; input 3 x 64 x 64 (grey faces replicated to three channels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from openfer.labels import RESEMOTENET_AUTHORS
from openfer.models.layers import SqueezeExcitation, TapTrimmedConv2d
from openfer.models.registry import IMAGENET_GREY_MEAN, IMAGENET_GREY_STD, register_model


class ResidualBlock(nn.Module):
    """Two 3x3 conv-BN layers (with biases, as in the authors' code) and a 1x1 conv-BN projection shortcut.

    The 3x3 convolutions skip the taps that read only padding (at 48 px the last block's maps are 1 x 1, where a
    3x3 convolution is its centre tap): the same outputs and state dict as ``nn.Conv2d``; a training step at 48 px
    is 1.38x faster (benchmarks/tap_trimmed_conv.py; docs/models/resemotenet.md)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = TapTrimmedConv2d(in_channels, out_channels, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = TapTrimmedConv2d(out_channels, out_channels, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride), nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + self.shortcut(x))


class ResEmoteNet(nn.Module):
    """ResEmoteNet; ``forward`` returns logits. Module names match the authors' state dict."""

    def __init__(self, num_classes: int = 7, in_channels: int = 3, conv_dropout: float = 0.2, fc_dropout: float = 0.5) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 128, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(128)
        self.conv3 = nn.Conv2d(128, 256, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(256)
        self.se = SqueezeExcitation(256)
        self.res_block1 = ResidualBlock(256, 512, stride=2)
        self.res_block2 = ResidualBlock(512, 1024, stride=2)
        self.res_block3 = ResidualBlock(1024, 2048, stride=2)
        self.fc1 = nn.Linear(2048, 1024)
        self.fc2 = nn.Linear(1024, 512)
        self.fc3 = nn.Linear(512, 256)
        self.dropout1 = nn.Dropout(conv_dropout)
        self.dropout2 = nn.Dropout(fc_dropout)
        self.fc4 = nn.Linear(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout1(F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2))
        x = self.dropout1(F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2))
        x = self.se(F.max_pool2d(F.relu(self.bn3(self.conv3(x))), 2))
        x = self.res_block3(self.res_block2(self.res_block1(x)))
        x = x.mean(dim=(2, 3))
        for fc in (self.fc1, self.fc2, self.fc3):
            x = self.dropout2(F.relu(fc(x)))
        return self.fc4(x)


@register_model(
    "resemotenet",
    input_size=(3, 64, 64),
    mean=IMAGENET_GREY_MEAN,
    std=IMAGENET_GREY_STD,
    head="fc4",
    paper="Roy et al., ResEmoteNet: Bridging Accuracy and Loss Reduction in Facial Emotion Recognition, 2024",
    authors_classes=RESEMOTENET_AUTHORS,  # the order of the released checkpoints, used for their bare weights
)
def resemotenet(num_classes: int = 7, in_channels: int = 3, conv_dropout: float = 0.2, fc_dropout: float = 0.5) -> ResEmoteNet:
    """ResEmoteNet (80,238,599 parameters for 7 classes; 0.337 GMACs at 64 x 64)."""
    return ResEmoteNet(num_classes, in_channels, conv_dropout, fc_dropout)
