"""The shipped default network: a VGG-style CNN for 48 x 48 grey faces.

Four stages of two 3x3 conv-BN-ReLU layers (48, 96, 192, 384 channels by default), each followed by 2x2 max
pooling, then global average pooling and a two-layer classifier with dropout: the VGG family that leads
FER2013 with long schedules and strong augmentation (Khaireddin & Chen, 2021, "Facial Emotion Recognition:
State of the Art Performance on FER2013"; Pramerdorfer & Kampel, 2016). Measured accuracy: docs/benchmarks.md.
"""

from __future__ import annotations

import torch
from torch import nn

from openfer.models.layers import classifier_head, conv_bn_relu
from openfer.models.registry import register_model


class FERVGG(nn.Module):
    """VGG-style FER network; input (N, in_channels, H, W) in [0, 1] normalised by the caller."""

    def __init__(
        self,
        num_classes: int = 7,
        in_channels: int = 1,
        widths: tuple[int, ...] = (48, 96, 192, 384),
        convs_per_stage: int = 2,
        hidden: int = 384,
        dropout: float = 0.4,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for width in widths:
            for _ in range(convs_per_stage):
                layers += list(conv_bn_relu(channels, width))  # flat: keys features.0, features.1, ...
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = classifier_head(channels, hidden, num_classes, dropout)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model("openfer_vgg", input_size=(1, 48, 48), mean=0.5, std=0.25, head="head", paper="openfer default (VGG-style, 48x48 grey)")
def openfer_vgg(num_classes: int = 7, **kwargs) -> FERVGG:
    return FERVGG(num_classes=num_classes, **kwargs)

