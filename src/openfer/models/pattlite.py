"""PAtt-Lite (Ngwe, Lim, Lee and Ong, "PAtt-Lite: Lightweight Patch and Attention MobileNet for
Challenging Facial Expression Recognition", arXiv:2306.09626, 2023; authors' code: JLREx/PAtt-Lite, Keras).

A MobileNetV1 truncated after ``conv_dw_9`` (512 x 14 x 14 at 224), a patch extraction block (separable
conv 4x4 stride 4 'same', separable conv 2x2 stride 2, pointwise conv; 256 channels, ReLU) giving 2 x 2
patches, then the attention classifier: Dense(32, ReLU) + BatchNorm, dot-product self-attention with a
learned scale, Dense(num_classes). Layer widths follow the authors' notebook.

Deviation from the authors' code: there, the patches are averaged first and Keras ``Attention`` is applied
to the (batch, 32) matrix, so the scores are a batch x batch matrix and a face's prediction depends on the
other faces in its batch (and on the batch size at test time). Here attention runs within each face, over
its 2 x 2 patch tokens, and the tokens are averaged after it; parameters are unchanged.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from openfer.models.backbones.mobilenet import MobileNetV1, load_keras_layout_weights
from openfer.models.registry import register_model

BackboneMode = Literal["train", "frozen", "frozen_bn"]


class SeparableConv2d(nn.Module):
    """Keras ``SeparableConv2D``: bias-free depthwise k x k conv, then a pointwise conv with bias.

    ``same`` padding follows TensorFlow: the total padding is split with the extra pixel at the end.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: Literal["same", "valid"]) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, stride, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == "same":
            pads = []
            for size in (x.shape[3], x.shape[2]):
                total = max((math.ceil(size / self.stride) - 1) * self.stride + self.kernel_size - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        return self.pointwise(self.depthwise(x))


class PatchAttention(nn.Module):
    """Keras ``Attention(use_scale=True)`` on ``[x, x]``: ``softmax(scale * x x^T) x`` over each sample's tokens."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.scale * tokens @ tokens.transpose(1, 2), dim=-1)  # (N, T, T), never across N
        return weights @ tokens


class PAttLite(nn.Module):
    """PAtt-Lite; ``forward`` returns logits.

    ``backbone_mode``: ``"train"`` trains the MobileNet like the rest; ``"frozen"`` freezes it, batch norm
    included (the authors' first phase); ``"frozen_bn"`` trains its convolutions but keeps its batch norm in
    inference mode with frozen affine parameters (the authors' fine-tuning phase: Keras ``training=False``).
    ``spatial_dropout`` / ``head_dropout``: the two layers the authors add for fine-tuning (SpatialDropout2D on
    the patch map, Dropout before the classifier; 0.2 there, with ``dropout`` 0.2); parameter-free, so the
    phase-1 weights load unchanged. 0 (phase 1): absent.
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_channels: int = 3,
        dropout: float = 0.1,
        backbone_mode: BackboneMode = "train",
        backbone_weights: str | Path | None = None,
        spatial_dropout: float = 0.0,
        head_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if backbone_mode not in ("train", "frozen", "frozen_bn"):
            raise ValueError(f"backbone_mode must be 'train', 'frozen' or 'frozen_bn', got {backbone_mode!r}")
        self.backbone_mode = backbone_mode
        self.backbone = MobileNetV1(num_classes=0, in_channels=in_channels, last_layer="conv_dw_9")
        if backbone_weights is not None:
            load_keras_layout_weights(self.backbone, backbone_weights)
        width = 256
        self.patch_extraction = nn.Sequential(
            SeparableConv2d(self.backbone.num_features, width, 4, 4, "same"),
            nn.ReLU(inplace=True),
            SeparableConv2d(width, width, 2, 2, "valid"),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 1),
            nn.ReLU(inplace=True),
        )
        self.spatial_dropout = nn.Dropout2d(spatial_dropout)  # whole channels of the 2 x 2 map, as Keras SpatialDropout2D
        self.dropout = nn.Dropout(dropout)
        self.head_dropout = nn.Dropout(head_dropout)
        self.pre_classification = nn.Sequential(nn.Linear(width, 32), nn.ReLU(inplace=True))
        self.pre_classification_bn = nn.BatchNorm1d(32, eps=1e-3)  # Keras BatchNormalization default eps
        self.attention = PatchAttention()
        self.classification_head = nn.Linear(32, num_classes)
        for module in self.backbone.modules():
            if backbone_mode == "frozen" or (backbone_mode == "frozen_bn" and isinstance(module, nn.BatchNorm2d)):
                module.requires_grad_(False)

    def train(self, mode: bool = True) -> PAttLite:
        """Switch modes, keeping a frozen backbone's batch norm in inference mode."""
        super().train(mode)
        if self.backbone_mode != "train":
            for module in self.backbone.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = self.patch_extraction(self.backbone(x))  # (N, 256, 2, 2) at 224
        tokens = self.dropout(self.spatial_dropout(patches).flatten(2).transpose(1, 2))  # (N, 4, 256)
        tokens = self.pre_classification(tokens)
        tokens = self.pre_classification_bn(tokens.transpose(1, 2)).transpose(1, 2)  # BN over the 32 channels
        return self.classification_head(self.head_dropout(self.attention(tokens).mean(dim=1)))


@register_model(
    "pattlite",
    input_size=(3, 224, 224),
    mean=0.5,  # the authors' Keras MobileNet preprocessing: pixels to [-1, 1]
    std=0.5,
    head="classification_head",
    paper="Ngwe et al., PAtt-Lite: Lightweight Patch and Attention MobileNet for Challenging Facial Expression Recognition, 2023",
    pretrained="imagenet",
)
def pattlite(
    num_classes: int = 7,
    in_channels: int = 3,
    dropout: float = 0.1,
    backbone_mode: BackboneMode = "train",
    backbone_weights: str | None = None,
    spatial_dropout: float = 0.0,
    head_dropout: float = 0.0,
) -> PAttLite:
    """PAtt-Lite (1,093,032 parameters for 7 classes, BN running statistics not counted).

    ``backbone_weights``: a user-held MobileNetV1 checkpoint in :mod:`openfer.models.backbones.mobilenet`'s layout.
    """
    return PAttLite(num_classes, in_channels, dropout, backbone_mode, backbone_weights, spatial_dropout, head_dropout)
