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


def classifier_head(channels: int, hidden: int, num_classes: int, dropout: float) -> nn.Sequential:
    """openfer's CNN head: global average pooling, dropout, Linear(channels, hidden), BatchNorm1d, ReLU,
    dropout, Linear(hidden, classes) (keys ``head.3``, ``head.4``, ``head.7`` in the shipped weights)."""
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(channels, hidden),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(hidden, num_classes),
    )


def fuse_conv_bn(module: nn.Module) -> nn.Module:
    """An inference copy of ``module`` in which every ``Conv2d`` directly followed by a ``BatchNorm2d``
    inside an ``nn.Sequential`` is folded into one ``Conv2d`` (running statistics; the module is unchanged).

    The folded network computes the same function in eval mode (to float rounding) with one pass over
    each feature map fewer; under bf16 autocast on a CPU the separate BatchNorm is the costlier part.
    Re-parameterisable blocks (any module with a ``fused_conv`` method, e.g.
    :class:`openfer.models.repvgg.RepBlock`) are folded into their single convolution too.
    """
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fused = copy.deepcopy(module).eval()
    for block in [m for m in fused.modules() if callable(getattr(m, "fused_conv", None))]:
        block.reparameterize()
    for parent in [fused, *fused.modules()]:
        for name, child in list(parent.named_children()):
            if not isinstance(child, nn.Sequential):
                continue
            layers, kept, i = list(child.children()), [], 0
            while i < len(layers):
                conv, norm = layers[i], layers[i + 1] if i + 1 < len(layers) else None
                if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d) and norm.track_running_stats:
                    kept.append(fuse_conv_bn_eval(conv, norm))
                    i += 2
                else:
                    kept.append(conv)
                    i += 1
            if len(kept) != len(layers):
                setattr(parent, name, nn.Sequential(*kept))
    return fused
