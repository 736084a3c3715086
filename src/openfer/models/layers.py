"""Layers shared by several architectures: squeeze-and-excitation, the conv-BN-ReLU unit, the classifier head, conv-BN
fusion and the convolution that skips taps reading only padding."""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

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


_TRIM = contextvars.ContextVar("openfer_trim_taps", default=True)


@contextlib.contextmanager
def every_tap() -> Iterator[None]:
    """Within this block :class:`TapTrimmedConv2d` computes every tap, as ``nn.Conv2d`` does: MACs are then
    counted as the architecture defines them (padded taps included, as the papers and thop count)."""
    token = _TRIM.set(False)
    try:
        yield
    finally:
        _TRIM.reset(token)


def _live_taps(size: int, kernel: int, stride: int, padding: int) -> tuple[int, int, int, int]:
    """The kernel taps ``[first, last]`` of one spatial axis that ever read a real (not padded) input value, and
    the zero padding ``(before, after)`` that a convolution with only those taps needs to give the same outputs."""
    outputs = (size + 2 * padding - kernel) // stride + 1
    first = max(0, padding - (outputs - 1) * stride)  # tap j reads input i * stride - padding + j
    last = min(kernel - 1, size - 1 + padding)
    before = padding - first
    after = max(0, (outputs - 1) * stride + (last - first + 1) - size - before)
    return first, last, before, after


class TapTrimmedConv2d(nn.Conv2d):
    """``nn.Conv2d`` that skips the kernel taps which read only zero padding at the input's size: the same outputs
    and gradients (the skipped taps multiply zeros), the same parameters and state dict, less work.

    A 3 x 3 convolution with padding 1 on a 1 x 1 map reads its centre tap alone, so it costs a ninth as a 1 x 1
    one; ResEmoteNet's 2048-channel layers at 48 px spend most of a training step on such taps. Zero padding,
    dilation 1; any other configuration, or an input where every tap is live, runs the plain convolution."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _TRIM.get() or self.padding_mode != "zeros" or self.dilation != (1, 1) or isinstance(self.padding, str):
            return super().forward(x)
        axes = [_live_taps(x.shape[2 + a], self.kernel_size[a], self.stride[a], self.padding[a]) for a in (0, 1)]
        every = all(first == 0 and last == k - 1 for (first, last, _, _), k in zip(axes, self.kernel_size))
        if every or any(first > last for first, last, _, _ in axes):  # all taps live, or none (outputs: the bias)
            return super().forward(x)
        (top, bottom, pad_top, pad_bottom), (left, right, pad_left, pad_right) = axes
        weight = self.weight[:, :, top : bottom + 1, left : right + 1].contiguous()  # oneDNN refuses a strided weight
        x = nn.functional.pad(x, (pad_left, pad_right, pad_top, pad_bottom))
        return nn.functional.conv2d(x, weight, self.bias, self.stride, 0, 1, self.groups)
