"""EmoNeXt (El Boudouri and Bohi, "EmoNeXt: an Adapted ConvNeXt for Facial Emotion Recognition", MMSP 2023;
authors' code: yelboudouri/EmoNeXt), tiny to xlarge.

A ConvNeXt with a spatial transformer network (STN) warping the input face, a squeeze-and-excitation block
after each of the three inner downsampling layers, and a self-attention regulariser: the variance of the
attention weights of a dot-product self-attention layer, which the model returns in training and loss
``emonext_attention`` (:class:`openfer.losses.EmoNeXtAttentionRegularizer`) turns into a loss term.
The logits come from the ConvNeXt head on the pooled feature; the attention only shapes training.
State-dict keys match the authors' code (and ConvNeXt's release for the shared part).

Deviation from the authors' code: there, the attention runs on the pooled (batch, C) features, so its
weights form a batch x batch matrix and a face's loss depends on its batch-mates (at batch size 1, as in
their validation, the term is always 0). Here it runs within each face, over the h x w tokens of the last
stage (7 x 7 at 224), so the regulariser is a per-face term averaged over the batch; parameters are
unchanged. The attention runs only in training mode, where the loss needs it; eval returns the logits alone.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from openfer.models.backbones.convnext import CONFIGS, ConvNeXt, load_release_weights
from openfer.models.layers import SqueezeExcitation
from openfer.models.registry import register_model

PAPER = "El Boudouri and Bohi, EmoNeXt: an Adapted ConvNeXt for Facial Emotion Recognition, MMSP 2023"


class DotProductSelfAttention(nn.Module):
    """LayerNorm, then q/k/v projections; returns ``(attended + x, weights)`` over the token axis.

    Authors' code: scores are scaled by d^(-1/4) (not the usual d^(-1/2)); kept as is.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.scale = 1 / math.sqrt(math.sqrt(dim))

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.norm(tokens)
        weights = torch.softmax(self.query(x) @ self.key(x).transpose(-2, -1) * self.scale, dim=-1)  # (N, T, T)
        return weights @ self.value(x) + x, weights


class EmoNeXt(ConvNeXt):
    """EmoNeXt; ``forward`` returns ``{"logits", "attention"}`` in training (the (N, h*w, h*w) attention
    weights, which loss ``emonext_attention`` regularises), logits in eval.

    ``image_size`` fixes the STN regressor's input width (10 x 52 x 52 at 224, as in the authors' code).
    """

    def __init__(
        self,
        depths: tuple[int, ...] = CONFIGS["tiny"][0],
        dims: tuple[int, ...] = CONFIGS["tiny"][1],
        num_classes: int = 7,
        in_channels: int = 3,
        image_size: int = 224,
        drop_path_rate: float = 0.1,
        layer_scale_init_value: float = 1e-6,
    ) -> None:
        super().__init__(depths, dims, num_classes, in_channels, drop_path_rate, layer_scale_init_value)
        # STN localisation network and affine regressor (Jaderberg et al., 2015; widths from the authors' code).
        self.localization = nn.Sequential(
            nn.Conv2d(in_channels, 8, kernel_size=7),
            nn.BatchNorm2d(8),
            nn.MaxPool2d(2, stride=2),
            nn.ReLU(True),
            nn.Conv2d(8, 10, kernel_size=5),
            nn.BatchNorm2d(10),
            nn.MaxPool2d(2, stride=2),
            nn.ReLU(True),
        )
        side = ((image_size - 6) // 2 - 4) // 2
        if side < 1:
            raise ValueError(f"image_size must be at least 16 for the STN, got {image_size}")
        self.fc_loc = nn.Sequential(nn.Linear(10 * side * side, 32), nn.ReLU(True), nn.Linear(32, 6))
        for i in range(1, 4):
            self.downsample_layers[i].append(SqueezeExcitation(dims[i]))
        self.attention = DotProductSelfAttention(dims[-1])
        # The authors' initialisation, over the added modules too: truncated normal (std 0.02), zero biases.
        for layer in self.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(layer.weight, std=0.02)
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
        # The STN starts as the identity transform.
        nn.init.zeros_(self.fc_loc[2].weight)
        with torch.no_grad():
            self.fc_loc[2].bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))

    def stn(self, x: torch.Tensor) -> torch.Tensor:
        """Warp each face by the affine transform its localisation network predicts."""
        theta = self.fc_loc(self.localization(x).flatten(1)).view(-1, 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=True)
        return F.grid_sample(x, grid, align_corners=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        stages = self.forward_stages(self.stn(x))
        logits = self.head(self.norm(stages.mean(dim=(2, 3))))
        if not self.training:
            return logits
        tokens = self.norm(stages.flatten(2).transpose(1, 2))  # (N, h*w, C), normed like the pooled feature
        _, weights = self.attention(tokens)
        return {"logits": logits, "attention": weights}


def _emonext(size: str, num_classes: int, in_channels: int, image_size: int, drop_path_rate: float, backbone_weights: str | Path | None) -> EmoNeXt:
    depths, dims = CONFIGS[size]
    model = EmoNeXt(depths, dims, num_classes, in_channels, image_size, drop_path_rate)
    if backbone_weights is not None:
        load_release_weights(model, backbone_weights)
    return model


# The authors' code feeds pixels in [0, 1] unnormalised.
_DEFAULTS = {"input_size": (3, 224, 224), "mean": 0.0, "std": 1.0, "head": "head", "paper": PAPER, "default_losses": ("cross_entropy", "emonext_attention"), "pretrained": "imagenet-22k"}


@register_model("emonext_tiny", **_DEFAULTS)
def emonext_tiny(num_classes: int = 7, in_channels: int = 3, image_size: int = 224, drop_path_rate: float = 0.1, backbone_weights: str | None = None) -> EmoNeXt:
    """EmoNeXt-tiny (30,564,331 parameters for 7 classes at 224; 4.54 GMACs in eval)."""
    return _emonext("tiny", num_classes, in_channels, image_size, drop_path_rate, backbone_weights)


@register_model("emonext_small", **_DEFAULTS)
def emonext_small(num_classes: int = 7, in_channels: int = 3, image_size: int = 224, drop_path_rate: float = 0.1, backbone_weights: str | None = None) -> EmoNeXt:
    """EmoNeXt-small on ConvNeXt-S."""
    return _emonext("small", num_classes, in_channels, image_size, drop_path_rate, backbone_weights)


@register_model("emonext_base", **_DEFAULTS)
def emonext_base(num_classes: int = 7, in_channels: int = 3, image_size: int = 224, drop_path_rate: float = 0.1, backbone_weights: str | None = None) -> EmoNeXt:
    """EmoNeXt-base on ConvNeXt-B."""
    return _emonext("base", num_classes, in_channels, image_size, drop_path_rate, backbone_weights)


@register_model("emonext_large", **_DEFAULTS)
def emonext_large(num_classes: int = 7, in_channels: int = 3, image_size: int = 224, drop_path_rate: float = 0.1, backbone_weights: str | None = None) -> EmoNeXt:
    """EmoNeXt-large on ConvNeXt-L."""
    return _emonext("large", num_classes, in_channels, image_size, drop_path_rate, backbone_weights)


@register_model("emonext_xlarge", **_DEFAULTS)
def emonext_xlarge(num_classes: int = 7, in_channels: int = 3, image_size: int = 224, drop_path_rate: float = 0.1, backbone_weights: str | None = None) -> EmoNeXt:
    """EmoNeXt-xlarge on ConvNeXt-XL."""
    return _emonext("xlarge", num_classes, in_channels, image_size, drop_path_rate, backbone_weights)
