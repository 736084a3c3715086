"""Layers shared by several architectures: squeeze-and-excitation and the conv-BN-ReLU unit."""

from __future__ import annotations

import torch
from torch import nn


class SqueezeExcitation(nn.Module):
    """SE block (Hu et al., CVPR 2018): channel gates from a bias-free C -> C/r -> C MLP on the pooled map."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean(dim=(2, 3)))[:, :, None, None]


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    """A bias-free ``kernel_size`` convolution ('same' padding, stride 1), BatchNorm and ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )
