"""ResNet-18/34 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016), BasicBlock variants.

Modules and state-dict keys follow torchvision's layout exactly (``conv1``, ``bn1``, ``layer1`` ... ``layer4``,
``fc``), so user-held checkpoints (torchvision ImageNet ``resnet18-*.pth``, the MS-Celeb-1M
``resnet18_msceleb.pth`` used by DAN and FAML) load key for key with
:func:`openfer.checkpoints.load_backbone_weights` (head ``fc``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from openfer.checkpoints import load_backbone_weights
from openfer.models.registry import IMAGENET_GREY_MEAN, IMAGENET_GREY_STD, register_model

#: Blocks per stage (ResNet paper, Table 1).
DEPTHS: dict[int, tuple[int, int, int, int]] = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
WIDTHS: tuple[int, int, int, int] = (64, 128, 256, 512)
HEAD = "fc"


def init_conv_bn(root: nn.Module) -> None:
    """torchvision's ResNet initialisation: Kaiming-normal fan-out convs, BN weight 1 / bias 0."""
    for module in root.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 conv-BN projection) shortcut."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet with BasicBlocks; ``num_classes=0`` drops the classifier (``forward`` then returns pooled features)."""

    def __init__(self, depth: int = 18, num_classes: int = 1000, in_channels: int = 3) -> None:
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"depth must be one of {sorted(DEPTHS)}, got {depth}")
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        channels = 64
        for index, (blocks, width) in enumerate(zip(DEPTHS[depth], WIDTHS), start=1):
            stride = 1 if index == 1 else 2
            layer = [BasicBlock(channels, width, stride)] + [BasicBlock(width, width) for _ in range(blocks - 1)]
            setattr(self, f"layer{index}", nn.Sequential(*layer))
            channels = width
        self.num_features = channels
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc: nn.Module = nn.Linear(channels, num_classes) if num_classes > 0 else nn.Identity()
        init_conv_bn(self)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """conv1, bn1, ReLU and max-pooling: (N, C, H, W) -> (N, 64, H/4, W/4)."""
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map (N, 512, H/32, W/32)."""
        x = self.stem(x)
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Global average pooling and the classifier."""
        return self.fc(torch.flatten(self.avgpool(features), 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def resnet(depth: int, num_classes: int = 1000, in_channels: int = 3, backbone_weights: str | Path | None = None) -> ResNet:
    """A ResNet-``depth``, optionally initialised from a user-held checkpoint (head excluded)."""
    model = ResNet(depth, num_classes, in_channels)
    if backbone_weights is not None:
        load_backbone_weights(model, backbone_weights, HEAD)
    return model


@register_model("resnet18", input_size=(3, 224, 224), mean=IMAGENET_GREY_MEAN, std=IMAGENET_GREY_STD, head=HEAD, paper="He et al., Deep Residual Learning for Image Recognition, CVPR 2016")
def resnet18(num_classes: int = 7, in_channels: int = 3, backbone_weights: str | None = None) -> ResNet:
    """ResNet-18 classifier (11,689,512 parameters with 1000 classes)."""
    return resnet(18, num_classes, in_channels, backbone_weights)


@register_model("resnet34", input_size=(3, 224, 224), mean=IMAGENET_GREY_MEAN, std=IMAGENET_GREY_STD, head=HEAD, paper="He et al., Deep Residual Learning for Image Recognition, CVPR 2016")
def resnet34(num_classes: int = 7, in_channels: int = 3, backbone_weights: str | None = None) -> ResNet:
    """ResNet-34 classifier (21,797,672 parameters with 1000 classes)."""
    return resnet(34, num_classes, in_channels, backbone_weights)
