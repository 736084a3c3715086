"""DAN – Distract your Attention Network (Wen et al., "Distract Your Attention: Multi-head Cross Attention
Network for Facial Expression Recognition", Biomimetics 2023; authors' code: yaoing/DAN).

FCN: a ResNet-18 trunk (conv1 ... layer4, MS-Celeb-1M weights upstream) gives x' (512 x 7 x 7 at 224).
MAN: K cross-attention heads, each a spatial attention unit (1x1 conv, then 3x3 + 1x3 + 3x1 convs summed,
ReLU, summed over channels into one map) followed by a channel attention unit (GAP, 512 -> 32 -> 512 MLP,
sigmoid). AFN: log-softmax across the heads, sum, Linear + BatchNorm1d. Widths follow the authors' code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from openfer.errors import ConfigError
from openfer.models.backbones.resnet import ResNet, resnet
from openfer.models.registry import IMAGENET_GREY_MEAN, IMAGENET_GREY_STD, register_model


class SpatialAttention(nn.Module):
    """DAN paper, Eq. 3: ``s_j = x' * H_j(x')`` with H_j a 1-channel map from four convolutions."""

    def __init__(self, channels: int = 512, reduced: int = 256) -> None:
        super().__init__()
        self.conv1x1 = nn.Sequential(nn.Conv2d(channels, reduced, 1), nn.BatchNorm2d(reduced))
        self.conv_3x3 = nn.Sequential(nn.Conv2d(reduced, channels, 3, padding=1), nn.BatchNorm2d(channels))
        self.conv_1x3 = nn.Sequential(nn.Conv2d(reduced, channels, (1, 3), padding=(0, 1)), nn.BatchNorm2d(channels))
        self.conv_3x1 = nn.Sequential(nn.Conv2d(reduced, channels, (3, 1), padding=(1, 0)), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1x1(x)
        y = F.relu(self.conv_3x3(y) + self.conv_1x3(y) + self.conv_3x1(y))
        return x * y.sum(dim=1, keepdim=True)


class DANChannelAttention(nn.Module):
    """DAN paper, Eq. 4: ``a_j = GAP(s_j) * H'_j(GAP(s_j))``, a 512-d attention feature vector."""

    def __init__(self, channels: int = 512, hidden: int = 32) -> None:
        super().__init__()
        self.attention = nn.Sequential(
            nn.Linear(channels, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, channels), nn.Sigmoid()
        )

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        pooled = s.mean(dim=(2, 3))
        return pooled * self.attention(pooled)


class CrossAttentionHead(nn.Module):
    """One MAN head: spatial then channel attention, initialised as in the authors' code."""

    def __init__(self, channels: int = 512) -> None:
        super().__init__()
        self.sa = SpatialAttention(channels)
        self.ca = DANChannelAttention(channels)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.001)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ca(self.sa(x))


class DAN(nn.Module):
    """DAN on a ResNet-18 trunk; ``forward`` returns ``{"logits", "features", "heads"}``.

    ``features`` is the trunk map x' (N, 512, h, w) for the affinity loss; ``heads`` (N, K, 512) are the
    head vectors after the AFN log-softmax, for the partition loss (both as in the authors' code).
    """

    def __init__(self, num_classes: int = 7, num_heads: int = 4, in_channels: int = 3, backbone_weights: str | None = None) -> None:
        super().__init__()
        if num_heads < 1:
            raise ConfigError(f"num_heads must be >= 1, got {num_heads}")
        self.backbone: ResNet = resnet(18, num_classes=0, in_channels=in_channels, backbone_weights=backbone_weights)
        channels = self.backbone.num_features
        self.heads = nn.ModuleList(CrossAttentionHead(channels) for _ in range(num_heads))
        self.fc = nn.Linear(channels, num_classes)
        # Authors' code: BatchNorm1d on the logits (not in the paper; part of the held 19.72 M parameters).
        self.bn = nn.BatchNorm1d(num_classes)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone.forward_features(x)
        heads = torch.stack([head(features) for head in self.heads], dim=1)
        if heads.size(1) > 1:
            heads = F.log_softmax(heads, dim=1)  # DAN paper, Eq. 5 (AFN); the code skips it for K = 1
        logits = self.bn(self.fc(heads.sum(dim=1)))
        return {"logits": logits, "features": features, "heads": heads}


@register_model(
    "dan",
    input_size=(3, 224, 224),
    mean=IMAGENET_GREY_MEAN,
    std=IMAGENET_GREY_STD,
    head="fc",
    paper="Wen et al., Distract Your Attention: Multi-head Cross Attention Network for Facial Expression Recognition, Biomimetics 2023",
    default_losses=("cross_entropy", "affinity", "partition"),
    pretrained="ms-celeb-1m",
)
def dan(num_classes: int = 7, num_heads: int = 4, in_channels: int = 3, backbone_weights: str | None = None) -> DAN:
    """DAN with ``num_heads`` cross-attention heads (19,723,733 parameters for 7 classes, K = 4)."""
    return DAN(num_classes, num_heads, in_channels, backbone_weights)
